package dev.extend.testing;

import dev.extend.spi.Router;

class HostRouterContractTest extends RouterContract {
  @Override
  protected Router router() {
    return Router.hostBased("hooks.example.com");
  }

  @Override
  protected String[] requestFor(String container, String webhook, String rest) {
    return new String[] {container + ".hooks.example.com", "/" + webhook + rest};
  }
}
