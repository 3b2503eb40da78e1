-- Start-up lists the key ids in use; lease expiry is part of every take.
CREATE INDEX webhooks_secrets_key ON webhooks (secrets_key_id);
CREATE INDEX build_jobs_lease ON build_jobs (state, lease_expires_at);
