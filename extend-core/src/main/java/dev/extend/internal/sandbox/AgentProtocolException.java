package dev.extend.internal.sandbox;

import java.io.IOException;

/**
 * The agent's answer broke the protocol or its bounds (a head too large, a header that must not
 * reach a client). Only that connection is dropped: the answer is refused (502) and the sandbox
 * is left alone, since whatever the tenant's code did harms only its own call. The message is
 * fixed text, never bytes from the sandbox.
 */
public final class AgentProtocolException extends IOException {
  private static final long serialVersionUID = 1L;

  AgentProtocolException(String what) {
    super("the sandbox's answer was refused: " + what);
  }
}
