package dev.extend.spi;

import dev.extend.ModuleRef;
import java.time.Instant;

/**
 * A leased build job.
 *
 * @param id the job's id, unique in its queue
 * @param module the module to build
 * @param attempt 1 for the first lease, incremented each time an expired lease is taken again
 * @param leaseExpiresAt when the lease runs out unless renewed
 */
public record BuildJob(long id, ModuleRef module, int attempt, Instant leaseExpiresAt) {}
