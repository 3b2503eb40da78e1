-- Extend schema, shared by H2 (MySQL mode) and MySQL/MariaDB.
-- Times are epoch microseconds (BIGINT): no time zone or precision differences between databases.

CREATE TABLE webhooks (
  container       VARCHAR(63)  NOT NULL,
  name            VARCHAR(64)  NOT NULL,
  code            MEDIUMTEXT   NOT NULL,
  dependencies    MEDIUMTEXT   NOT NULL,
  secrets         MEDIUMBLOB   NOT NULL,
  secrets_key_id  VARCHAR(64)  NOT NULL,
  meta            MEDIUMTEXT   NOT NULL,
  timeout_ms      BIGINT       NOT NULL,
  memory_mb       INT          NOT NULL,
  version         BIGINT       NOT NULL,
  created_at      BIGINT       NOT NULL,
  updated_at      BIGINT       NOT NULL,
  PRIMARY KEY (container, name)
) ${table_options};

CREATE TABLE modules (
  name             VARCHAR(214) NOT NULL,
  version          VARCHAR(64)  NOT NULL,
  state            VARCHAR(16)  NOT NULL,
  log              MEDIUMTEXT   NOT NULL,
  artifact_digest  CHAR(64),
  artifact_size    BIGINT,
  updated_at       BIGINT       NOT NULL,
  PRIMARY KEY (name, version)
) ${table_options};

-- An artifact's content lives in artifact_chunks under an upload id; the artifacts row, written
-- last, makes it visible under its digest.
CREATE TABLE artifacts (
  digest      CHAR(64)     NOT NULL,
  upload_id   VARCHAR(64)  NOT NULL,
  size        BIGINT       NOT NULL,
  chunks      INT          NOT NULL,
  created_at  BIGINT       NOT NULL,
  PRIMARY KEY (digest)
) ${table_options};

CREATE TABLE artifact_chunks (
  upload_id  VARCHAR(64)  NOT NULL,
  seq        INT          NOT NULL,
  data       MEDIUMBLOB   NOT NULL,
  PRIMARY KEY (upload_id, seq)
) ${table_options};

CREATE TABLE build_jobs (
  id                BIGINT       NOT NULL AUTO_INCREMENT,
  module_name       VARCHAR(214) NOT NULL,
  module_version    VARCHAR(64)  NOT NULL,
  state             VARCHAR(16)  NOT NULL,
  attempt           INT          NOT NULL,
  lease_owner       VARCHAR(128),
  lease_expires_at  BIGINT,
  created_at        BIGINT       NOT NULL,
  PRIMARY KEY (id),
  CONSTRAINT build_jobs_module UNIQUE (module_name, module_version)
) ${table_options};

CREATE TABLE tokens (
  id           VARCHAR(128) NOT NULL,
  hash         CHAR(64)     NOT NULL,
  containers   MEDIUMTEXT   NOT NULL,
  description  MEDIUMTEXT   NOT NULL,
  created_at   BIGINT       NOT NULL,
  revoked_at   BIGINT,
  PRIMARY KEY (id),
  CONSTRAINT tokens_hash UNIQUE (hash)
) ${table_options};
