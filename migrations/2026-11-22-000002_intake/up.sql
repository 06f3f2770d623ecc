-- Signal intake: closed vocabularies, record-level signals (codes only, purged after the
-- retention period), the aggregate cells every trend is computed from, and the
-- idempotency keys that let offline apps retry safely.

CREATE TABLE age_bands (
    id          SMALLINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE CHECK (code ~ '^[0-9]{1,3}-[0-9]{1,3}$'),
    label_sv    TEXT NOT NULL CHECK (length(label_sv) BETWEEN 1 AND 100),
    label_en    TEXT NOT NULL CHECK (length(label_en) BETWEEN 1 AND 100),
    sort_order  SMALLINT NOT NULL DEFAULT 0,
    active      BOOLEAN NOT NULL DEFAULT true,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
SELECT diesel_manage_updated_at('age_bands');

CREATE TABLE categories (
    id              SMALLINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9_]{1,63}$'),
    label_sv        TEXT NOT NULL CHECK (length(label_sv) BETWEEN 1 AND 100),
    label_en        TEXT NOT NULL CHECK (length(label_en) BETWEEN 1 AND 100),
    description_sv  TEXT NOT NULL CHECK (length(description_sv) <= 500),
    description_en  TEXT NOT NULL CHECK (length(description_en) <= 500),
    sort_order      SMALLINT NOT NULL DEFAULT 0,
    active          BOOLEAN NOT NULL DEFAULT true,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
SELECT diesel_manage_updated_at('categories');

CREATE TABLE arenas (
    id          SMALLINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9_]{1,63}$'),
    label_sv    TEXT NOT NULL CHECK (length(label_sv) BETWEEN 1 AND 100),
    label_en    TEXT NOT NULL CHECK (length(label_en) BETWEEN 1 AND 100),
    sort_order  SMALLINT NOT NULL DEFAULT 0,
    active      BOOLEAN NOT NULL DEFAULT true,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
SELECT diesel_manage_updated_at('arenas');

INSERT INTO age_bands (code, label_sv, label_en, sort_order) VALUES
    ('0-9', '0–9 år', '0–9 years', 1),
    ('10-12', '10–12 år (mellanstadiet)', '10–12 years (middle school)', 2),
    ('13-15', '13–15 år (högstadiet)', '13–15 years (lower secondary)', 3),
    ('16-17', '16–17 år (gymnasiet)', '16–17 years (upper secondary)', 4),
    ('18-20', '18–20 år (unga vuxna)', '18–20 years (young adults)', 5);

INSERT INTO categories (code, label_sv, label_en, description_sv, description_en, sort_order) VALUES
    ('recruitment_approach', 'Rekryteringsförsök', 'Recruitment approach',
     'Erbjuds ärenden eller "snabba pengar" ansikte mot ansikte.', 'Offered errands or "quick money" in person.', 1),
    ('digital_recruitment', 'Digital rekrytering', 'Digital recruitment',
     'Kontaktad via sociala medier, spel eller krypterade appar.', 'Contacted via social media, games or encrypted chat.', 2),
    ('drug_handling', 'Narkotikahantering', 'Drug handling',
     'Bär, förvarar eller säljer narkotika, eller står vakt.', 'Carrying, storing or selling drugs, or acting as lookout.', 3),
    ('unexplained_money', 'Oförklarliga pengar', 'Unexplained money',
     'Kontanter eller dyra saker utan förklaring.', 'Cash or expensive goods without explanation.', 4),
    ('debt_threats', 'Skulder och hot', 'Debt and threats',
     'Skuldsatt, hotad eller tvingad; familjen hotad.', 'Indebted, threatened or coerced; family threatened.', 5),
    ('violence_exposed', 'Utsatt för våld', 'Exposed to violence',
     'Skadad eller utsatt men ovillig att berätta.', 'Injured or victimised but unwilling to tell.', 6),
    ('violence_group', 'Gruppvåld', 'Group violence',
     'Grupp- eller förnedringsvåld, ofta filmat.', 'Group or humiliation violence, often filmed.', 7),
    ('weapons', 'Vapen', 'Weapons',
     'Bär eller har tillgång till vapen.', 'Carrying or having access to weapons.', 8),
    ('school_disengagement', 'Skolfrånvaro och avhopp', 'School disengagement',
     'Plötslig frånvaro eller slutar med aktiviteter.', 'Sudden absence or leaving activities.', 9),
    ('older_contacts', 'Äldre kriminella kontakter', 'Older criminal contacts',
     'Kontakt med äldre kriminella aktörer.', 'Contact with older criminal actors.', 10),
    ('sexual_exploitation', 'Sexuell exploatering', 'Sexual exploitation',
     'Utnyttjas sexuellt, t.ex. som betalning eller påtryckning.', 'Sexually exploited, e.g. as payment or pressure.', 11),
    ('glorification', 'Förhärligande', 'Glorification',
     'Visar upp kriminell livsstil eller gängtillhörighet.', 'Displays a crime lifestyle or gang affiliation.', 12),
    ('open_drug_scene', 'Öppen narkotikascen', 'Open drug scene',
     'Iakttagelse av en plats där narkotika hanteras öppet.', 'Observation of a place where drugs are handled openly.', 13);

INSERT INTO arenas (code, label_sv, label_en, sort_order) VALUES
    ('school', 'Skola', 'School', 1),
    ('schoolyard', 'Skolgård', 'Schoolyard', 2),
    ('youth_centre', 'Fritidsgård', 'Youth centre', 3),
    ('public_place', 'Offentlig plats', 'Public place', 4),
    ('sports_ground', 'Idrottsplats', 'Sports ground', 5),
    ('residential_area', 'Bostadsområde', 'Residential area', 6),
    ('social_media', 'Sociala medier', 'Social media', 7),
    ('online_gaming', 'Onlinespel', 'Online gaming', 8),
    ('encrypted_chat', 'Krypterad chatt', 'Encrypted chat', 9),
    ('other', 'Annat', 'Other', 10);

-- One observed concern. Only codes, the ISO week (as its Monday), who reported it and a
-- random record key: no free text, no day, nothing about the child. Deleted after the
-- retention period; the cells below keep the counts.
CREATE TABLE signals (
    id            UUID PRIMARY KEY,
    week          DATE NOT NULL CHECK (extract(isodow FROM week) = 1),
    area_id       INTEGER NOT NULL REFERENCES areas (id),
    age_band_id   SMALLINT NOT NULL REFERENCES age_bands (id),
    category_id   SMALLINT NOT NULL REFERENCES categories (id),
    arena_id      SMALLINT NOT NULL REFERENCES arenas (id),
    gender        TEXT NOT NULL CHECK (gender IN ('unspecified', 'girl', 'boy', 'other')),
    source        TEXT NOT NULL CHECK (source IN ('school', 'field_worker', 'police', 'social_services', 'leisure')),
    submitted_by  UUID NOT NULL REFERENCES users (id),
    -- Cell key method (DESIGN §5): uniform in [0, 2^31), drawn at intake, never changed.
    record_key    INTEGER NOT NULL CHECK (record_key >= 0),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX signals_submitter ON signals (submitted_by, created_at DESC, id DESC);
CREATE INDEX signals_week ON signals (week);

-- The aggregate of every signal ever acknowledged, per cell: the only input of trends,
-- alerts and exports. n and key_sum add up under any roll-up.
CREATE TABLE signal_cells (
    week          DATE NOT NULL,
    area_id       INTEGER NOT NULL REFERENCES areas (id),
    age_band_id   SMALLINT NOT NULL REFERENCES age_bands (id),
    category_id   SMALLINT NOT NULL REFERENCES categories (id),
    arena_id      SMALLINT NOT NULL REFERENCES arenas (id),
    gender        TEXT NOT NULL,
    source        TEXT NOT NULL,
    n             BIGINT NOT NULL CHECK (n >= 0),
    key_sum       BIGINT NOT NULL CHECK (key_sum >= 0),
    PRIMARY KEY (week, area_id, age_band_id, category_id, arena_id, gender, source)
);

-- The first answer to each (principal, Idempotency-Key), replayed for 24 hours.
CREATE TABLE idempotency_keys (
    user_id       UUID NOT NULL REFERENCES users (id),
    key           TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
    request_hash  BYTEA NOT NULL,
    status        SMALLINT,
    response      JSONB,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
