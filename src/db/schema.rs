// @generated automatically by Diesel CLI.

diesel::table! {
    age_bands (id) {
        id -> Int2,
        code -> Text,
        label_sv -> Text,
        label_en -> Text,
        sort_order -> Int2,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        reporting_start -> Nullable<Date>,
    }
}

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
        reporting_start -> Nullable<Date>,
    }
}

diesel::table! {
    arenas (id) {
        id -> Int2,
        code -> Text,
        label_sv -> Text,
        label_en -> Text,
        sort_order -> Int2,
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
    categories (id) {
        id -> Int2,
        code -> Text,
        label_sv -> Text,
        label_en -> Text,
        description_sv -> Text,
        description_en -> Text,
        sort_order -> Int2,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    cube_blocks (week, area_id) {
        week -> Date,
        area_id -> Int4,
        revision -> Int8,
        cells -> Bytea,
        built_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Uuid,
        key -> Text,
        request_hash -> Bytea,
        status -> Nullable<Int2>,
        response -> Nullable<Jsonb>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    interventions (id) {
        id -> Uuid,
        name -> Text,
        area_id -> Int4,
        category_ids -> Array<Nullable<Int2>>,
        age_band_ids -> Array<Nullable<Int2>>,
        level -> Text,
        start_week -> Date,
        end_week -> Nullable<Date>,
        created_by -> Uuid,
        created_at -> Timestamptz,
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
    population (area_id, age_band_id, year) {
        area_id -> Int4,
        age_band_id -> Int2,
        year -> Int2,
        persons -> Int4,
        updated_by -> Uuid,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    quota_usage (user_id, window_start) {
        user_id -> Uuid,
        window_start -> Timestamptz,
        used -> Int4,
        previous -> Int4,
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
    signal_cells (week, area_id, age_band_id, category_id, arena_id, gender, source) {
        week -> Date,
        area_id -> Int4,
        age_band_id -> Int2,
        category_id -> Int2,
        arena_id -> Int2,
        gender -> Text,
        source -> Text,
        n -> Int8,
        key_sum -> Int8,
    }
}

diesel::table! {
    signal_cells_by_area (week, area_id, category_id, age_band_id) {
        week -> Date,
        area_id -> Int4,
        category_id -> Int2,
        age_band_id -> Int2,
        n -> Int8,
        key_sum -> Int8,
    }
}

diesel::table! {
    signal_cells_by_week_area (week, area_id) {
        week -> Date,
        area_id -> Int4,
        n -> Int8,
        key_sum -> Int8,
        revision -> Int8,
    }
}

diesel::table! {
    signal_cells_by_week_area_source (week, area_id, source) {
        week -> Date,
        area_id -> Int4,
        source -> Text,
        n -> Int8,
        key_sum -> Int8,
    }
}

diesel::table! {
    signals (id) {
        id -> Uuid,
        week -> Date,
        area_id -> Int4,
        age_band_id -> Int2,
        category_id -> Int2,
        arena_id -> Int2,
        gender -> Text,
        source -> Text,
        submitted_by -> Uuid,
        created_at -> Timestamptz,
        ordinal -> Int4,
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

diesel::joinable!(cube_blocks -> areas (area_id));
diesel::joinable!(idempotency_keys -> users (user_id));
diesel::joinable!(interventions -> areas (area_id));
diesel::joinable!(interventions -> users (created_by));
diesel::joinable!(population -> age_bands (age_band_id));
diesel::joinable!(population -> areas (area_id));
diesel::joinable!(population -> users (updated_by));
diesel::joinable!(quota_usage -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(signal_cells -> age_bands (age_band_id));
diesel::joinable!(signal_cells -> areas (area_id));
diesel::joinable!(signal_cells -> arenas (arena_id));
diesel::joinable!(signal_cells -> categories (category_id));
diesel::joinable!(signal_cells_by_area -> age_bands (age_band_id));
diesel::joinable!(signal_cells_by_area -> areas (area_id));
diesel::joinable!(signal_cells_by_area -> categories (category_id));
diesel::joinable!(signal_cells_by_week_area -> areas (area_id));
diesel::joinable!(signal_cells_by_week_area_source -> areas (area_id));
diesel::joinable!(signals -> age_bands (age_band_id));
diesel::joinable!(signals -> areas (area_id));
diesel::joinable!(signals -> arenas (arena_id));
diesel::joinable!(signals -> categories (category_id));
diesel::joinable!(signals -> users (submitted_by));
diesel::joinable!(users -> areas (area_id));

diesel::allow_tables_to_appear_in_same_query!(
    age_bands,
    api_tokens,
    areas,
    arenas,
    audit_events,
    categories,
    cube_blocks,
    idempotency_keys,
    interventions,
    login_throttle,
    population,
    quota_usage,
    refresh_tokens,
    sessions,
    signal_cells,
    signal_cells_by_area,
    signal_cells_by_week_area,
    signal_cells_by_week_area_source,
    signals,
    users,
);
