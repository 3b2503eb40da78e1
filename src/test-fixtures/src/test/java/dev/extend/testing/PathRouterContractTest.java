package dev.extend.testing;

import dev.extend.spi.Router;

class PathRouterContractTest extends RouterContract {
  @Override
  protected Router router() {
    return Router.pathBased("/run");
  }

  @Override
  protected String[] requestFor(String container, String webhook, String rest) {
    return new String[] {"localhost", "/run/" + container + "/" + webhook + rest};
  }
}
