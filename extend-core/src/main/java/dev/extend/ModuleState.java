package dev.extend;

/** The build state of a module. */
public enum ModuleState {
  /** Waiting in the build queue. */
  QUEUED,
  /** A builder is running {@code npm install} for it. */
  BUILDING,
  /** Built; its artifact is in the artifact store. */
  READY,
  /** The build failed; the log says why. It can be retried. */
  FAILED;

  /** The lower-case name used on the wire ({@code ready}, {@code building}, ...). */
  public String wire() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
