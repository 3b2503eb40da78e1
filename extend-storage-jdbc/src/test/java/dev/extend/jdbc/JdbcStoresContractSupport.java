package dev.extend.jdbc;

import dev.extend.spi.ArtifactStore;
import dev.extend.spi.BuildQueue;
import dev.extend.spi.EgressStore;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.ModuleStore;
import dev.extend.spi.TokenStore;
import dev.extend.testing.ArtifactStoreContract;
import dev.extend.testing.BuildQueueContract;
import dev.extend.testing.EgressStoreContract;
import dev.extend.testing.FunctionStoreContract;
import dev.extend.testing.ModuleStoreContract;
import dev.extend.testing.TokenStoreContract;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;

/**
 * Runs the six storage contract suites against {@link JdbcStorage}; subclasses say which
 * database, fresh for every test.
 */
abstract class JdbcStoresContractSupport {

  static final SecretKeyRing KEYS = SecretKeyRing.generate("test-key");

  private final List<AutoCloseable> open = new ArrayList<>();

  /** A storage on a new, empty database; {@code cleanup} runs after the test. */
  abstract JdbcStorage newStorage(List<AutoCloseable> cleanup) throws Exception;

  JdbcStorage fresh() throws Exception {
    return newStorage(open);
  }

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
    open.clear();
  }

  @Nested
  class Functions extends FunctionStoreContract {
    @Override
    protected FunctionStore createStore() throws Exception {
      return fresh().functionStore();
    }
  }

  @Nested
  class Artifacts extends ArtifactStoreContract {
    @Override
    protected ArtifactStore createStore() throws Exception {
      return fresh().artifactStore();
    }
  }

  @Nested
  class Modules extends ModuleStoreContract {
    @Override
    protected ModuleStore createStore() throws Exception {
      return fresh().moduleStore();
    }
  }

  @Nested
  class Queue extends BuildQueueContract {
    @Override
    protected BuildQueue createQueue() throws Exception {
      return fresh().buildQueue();
    }
  }

  @Nested
  class Tokens extends TokenStoreContract {
    @Override
    protected TokenStore createStore() throws Exception {
      return fresh().tokenStore();
    }
  }

  @Nested
  class Egress extends EgressStoreContract {
    @Override
    protected EgressStore createStore() throws Exception {
      return fresh().egressStore();
    }
  }
}
