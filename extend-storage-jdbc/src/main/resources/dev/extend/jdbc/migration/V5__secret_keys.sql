-- The secret keys of this database: per key id, a fixed text sealed with that key (AES-GCM, bound
-- to the id), written by the first node that encrypted secrets with it. A node whose key of that
-- id does not open the check is refused at start-up and cannot write secrets, so no two nodes
-- write secrets that the other cannot read.
CREATE TABLE secret_keys (
  id          VARCHAR(64)    NOT NULL,
  key_check   VARBINARY(128) NOT NULL,
  created_at  BIGINT         NOT NULL,
  PRIMARY KEY (id)
) ${table_options};

-- A webhook without secrets stores none: an empty value and an empty key id, which every node
-- reads whatever its keys. Rows written before hold "{}" encrypted instead: a 12-byte nonce, the
-- 2 bytes and a 16-byte tag, 30 bytes in all (any secret makes the JSON longer).
UPDATE webhooks SET secrets = X'', secrets_key_id = '' WHERE OCTET_LENGTH(secrets) = 30;
