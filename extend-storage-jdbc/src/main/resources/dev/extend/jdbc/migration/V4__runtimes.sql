-- Node.js runtimes the platform owns. A webhook names its runtime (NULL: stored before runtimes
-- were named; it runs on the platform's default). Modules are built per version and Node.js ABI:
-- builds made before had none (they ran the host's Node), so their records and pending jobs are
-- dropped, and every module is built again for its webhooks' runtime at their next call or write.
ALTER TABLE webhooks ADD COLUMN runtime VARCHAR(16);

DROP TABLE build_jobs;
CREATE TABLE build_jobs (
  id                BIGINT       NOT NULL AUTO_INCREMENT,
  module_name       VARCHAR(214) NOT NULL,
  module_version    VARCHAR(64)  NOT NULL,
  module_abi        INT          NOT NULL,
  state             VARCHAR(16)  NOT NULL,
  attempt           INT          NOT NULL,
  lease_owner       VARCHAR(128),
  lease_expires_at  BIGINT,
  created_at        BIGINT       NOT NULL,
  PRIMARY KEY (id),
  CONSTRAINT build_jobs_module UNIQUE (module_name, module_version, module_abi)
) ${table_options};
CREATE INDEX build_jobs_lease ON build_jobs (state, lease_expires_at);

DROP TABLE modules;
CREATE TABLE modules (
  name             VARCHAR(214) NOT NULL,
  version          VARCHAR(64)  NOT NULL,
  abi              INT          NOT NULL,
  state            VARCHAR(16)  NOT NULL,
  log              MEDIUMTEXT   NOT NULL,
  artifact_digest  CHAR(64),
  artifact_size    BIGINT,
  updated_at       BIGINT       NOT NULL,
  PRIMARY KEY (name, version, abi)
) ${table_options};
