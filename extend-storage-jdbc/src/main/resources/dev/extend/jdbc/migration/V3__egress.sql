-- Per-container egress policies. The entries are a JSON array of strings in their wire form
-- (host[:port], CIDR[:port]), at most 256 of them; revision is a random non-zero number drawn for
-- every write, which nodes compare every second to notice a change.
CREATE TABLE egress_policies (
  container   VARCHAR(63)  NOT NULL,
  mode        VARCHAR(16)  NOT NULL,
  allow_list  MEDIUMTEXT   NOT NULL,
  revision    BIGINT       NOT NULL,
  updated_at  BIGINT       NOT NULL,
  PRIMARY KEY (container)
) ${table_options};
