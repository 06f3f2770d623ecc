// @generated automatically by Diesel CLI.

diesel::table! {
    api_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        name -> Text,
        token_hash -> Bytea,
        permissions -> Array<Nullable<Text>>,
        created_by -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    areas (id) {
        id -> Int4,
        code -> Text,
        name -> Text,
        level -> Text,
        parent_id -> Nullable<Int4>,
        path -> Text,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Int8,
        at -> Timestamptz,
        actor_id -> Nullable<Uuid>,
        action -> Text,
        outcome -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Text>,
        area_path -> Nullable<Text>,
        request_id -> Nullable<Uuid>,
        details -> Jsonb,
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        attempts -> Array<Nullable<Timestamptz>>,
        locked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Bytea,
        session_id -> Uuid,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        username -> Text,
        role -> Text,
        area_id -> Int4,
        kind -> Text,
        password_hash -> Nullable<Text>,
        disabled -> Bool,
        credentials_version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(users -> areas (area_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_tokens,
    areas,
    audit_events,
    login_throttle,
    refresh_tokens,
    sessions,
    users,
);
