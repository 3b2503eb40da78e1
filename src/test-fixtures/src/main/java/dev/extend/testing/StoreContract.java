package dev.extend.testing;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * What every store contract suite shares: a fresh, empty store per test from
 * {@link #createStore()}, closed after it.
 *
 * @param <S> the store SPI under test
 */
public abstract class StoreContract<S extends AutoCloseable> {

  /** The store under test, fresh for each test. */
  protected S store;

  /** A new, empty store. */
  protected abstract S createStore() throws Exception;

  /** Creates the store. */
  @BeforeEach
  void openStore() throws Exception {
    store = createStore();
  }

  /** Closes the store. */
  @AfterEach
  void closeStore() throws Exception {
    if (store != null) {
      store.close();
    }
  }
}
