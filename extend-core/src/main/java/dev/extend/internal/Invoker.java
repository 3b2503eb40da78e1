package dev.extend.internal;

import com.fasterxml.jackson.databind.JsonNode;
import dev.extend.ExtendException;
import dev.extend.FunctionErrorException;
import dev.extend.FunctionTimeoutException;
import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.ModuleRef;
import dev.extend.NodeRuntime;
import dev.extend.internal.runtime.Runtimes;
import dev.extend.ModuleState;
import dev.extend.ModuleStatus;
import dev.extend.ModulesNotReadyException;
import dev.extend.NotFoundException;
import dev.extend.UnavailableException;
import dev.extend.WebhookRef;
import dev.extend.internal.modules.ArtifactRefusedException;
import dev.extend.internal.modules.HostModuleStore;
import dev.extend.internal.modules.ModuleService;
import dev.extend.internal.sandbox.AgentClient;
import dev.extend.internal.sandbox.AgentHttp;
import dev.extend.internal.sandbox.AgentLoop;
import dev.extend.internal.sandbox.ManagedSandbox;
import dev.extend.internal.sandbox.SandboxManager;
import dev.extend.internal.sandbox.SandboxState;
import dev.extend.spi.ModuleRecord;
import dev.extend.spi.PlatformListener;
import dev.extend.spi.SandboxLimits;
import dev.extend.spi.WebhookRecord;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The invocation path, in links: resolve the webhook (cached metadata) → check and place its
 * modules on this host → get the container's sandbox (assigned, warm, or started) → make sure
 * the agent runs this version of the code (in a sandbox's first load, after its container's
 * egress policy is applied) → call the agent and map its answer.
 *
 * <p>Every link runs on the caller's thread; a warm invocation (metadata fresh, sandbox
 * assigned, code loaded) touches no store and hands nothing to another thread: it writes the
 * request to a pooled connection and reads the answer's head.
 */
final class Invoker {
  private static final Logger LOG = LoggerFactory.getLogger(Invoker.class);

  private final MetadataCache metadata;
  private final ModuleService modules;
  private final HostModuleStore hostModules;
  private final SandboxManager sandboxes;
  private final AgentClient agents;
  private final AgentHttp http;
  private final AgentLoop loop;
  private final PlatformListener listener;
  private final SandboxLimits sandboxLimits;
  private final Admission admission;
  private final EgressService egress;
  private final Runtimes runtimes;

  Invoker(MetadataCache metadata, ModuleService modules, HostModuleStore hostModules, SandboxManager sandboxes,
      AgentClient agents, AgentHttp http, AgentLoop loop, PlatformListener listener, SandboxLimits sandboxLimits,
      Admission admission, EgressService egress, Runtimes runtimes) {
    this.runtimes = runtimes;
    this.admission = admission;
    this.egress = egress;
    this.metadata = metadata;
    this.modules = modules;
    this.hostModules = hostModules;
    this.sandboxes = sandboxes;
    this.agents = agents;
    this.http = http;
    this.loop = loop;
    this.listener = listener;
    this.sandboxLimits = sandboxLimits;
  }

  /**
   * Runs an invocation on the calling thread up to the response head; the body streams from
   * the sandbox as the caller reads it.
   */
  InvocationResponse invoke(WebhookRef ref, InvocationRequest request) {
    long t0 = System.nanoTime();
    boolean cold = false;
    try {
      Placed p = admitAndPlace(ref);
      cold = p.lease().cold();
      // the call ends the invocation (lease and admission), at the end of the answer
      InvocationResponse response = call(p.lease().sandbox(), p.webhook(), request, cold, p.done());
      listener.invocationEnded(ref, response.status(), System.nanoTime() - t0, cold);
      return response;
    } catch (RuntimeException e) {
      ExtendException x = map(e);
      listener.invocationEnded(ref, x.status(), System.nanoTime() - t0, cold);
      throw x;
    }
  }

  /** A webhook admitted and placed in its container's sandbox, and what ends that invocation. */
  private record Placed(WebhookRecord webhook, SandboxManager.Lease lease, Done done) {}

  /** Resolve, admit (in-flight limit), place; on failure nothing stays counted. */
  private Placed admitAndPlace(WebhookRef ref) {
    WebhookRecord webhook = resolve(ref);
    admission.enter(ref.container());
    SandboxManager.Lease lease;
    try {
      lease = place(webhook);
    } catch (RuntimeException e) {
      admission.exit(ref.container());
      throw e;
    }
    return new Placed(webhook, lease, new Done(lease.sandbox(), ref));
  }

  /**
   * What ends an invocation once, whichever way it ends: the sandbox lease (so it is not taken
   * for idle) and the container's in-flight count. For an answer that streams, that is when its
   * body ends or is closed, not when its head arrived.
   */
  private final class Done extends java.util.concurrent.atomic.AtomicBoolean implements Runnable {
    private static final long serialVersionUID = 1L;
    private final transient ManagedSandbox sandbox;
    private final transient WebhookRef ref;

    Done(ManagedSandbox sandbox, WebhookRef ref) {
      this.sandbox = sandbox;
      this.ref = ref;
    }

    @Override
    public void run() {
      if (compareAndSet(false, true)) {
        sandbox.exit();
        admission.exit(ref.container());
      }
    }
  }

  /**
   * Modules on this host, the container's sandbox leased, this version of the code loaded in
   * it. The caller must {@link ManagedSandbox#exit()} the lease's sandbox (the call does).
   */
  private SandboxManager.Lease place(WebhookRecord webhook) {
    NodeRuntime runtime = runtimes.forCall(webhook.runtime()); // 409 on a retired one, never an upgrade
    List<ModuleRecord> mods = modules(webhook, runtime);
    provision(webhook, mods); // before a sandbox is taken: a module that cannot be had costs none
    SandboxManager.Lease lease = lease(webhook, runtime);
    ManagedSandbox m = lease.sandbox();
    try {
      Long loaded = m.loadedVersion(webhook.ref().name());
      if (loaded == null || loaded != webhook.version()) {
        load(m, webhook, mods);
      }
    } catch (RuntimeException e) {
      m.exit(); // the lease ends here: there will be no call
      throw e;
    }
    return lease;
  }

  /**
   * The slow path of {@link #invokeAsync}, on an invocation thread: placing may block (cold
   * start, module unpack, code load); the call itself, when the body is in memory, goes
   * through the agent loop, so that a caller who cancels ends it at once.
   */
  private void invokeSlowly(WebhookRef ref, InvocationRequest request, CompletableFuture<InvocationResponse> out,
      Executor slow) {
    if (out.isDone()) {
      return; // cancelled while it waited
    }
    ByteBuffer body = request.completeBody().orElse(null);
    if (body == null) {
      try {
        InvocationResponse r = invoke(ref, request);
        if (!out.complete(r)) {
          r.close(); // nobody wants it any more
        }
      } catch (RuntimeException e) {
        out.completeExceptionally(e);
      }
      return;
    }
    long t0 = System.nanoTime();
    Placed p;
    try {
      p = admitAndPlace(ref);
    } catch (RuntimeException e) {
      ExtendException x = map(e);
      listener.invocationEnded(ref, x.status(), System.nanoTime() - t0, false);
      out.completeExceptionally(x);
      return;
    }
    if (out.isDone()) {
      p.done().run();
      return;
    }
    CompletableFuture<InvocationResponse> f = callAsync(p.lease().sandbox(), p.webhook(), request, body, slow,
        p.lease().cold(), t0, p.done());
    f.whenComplete((r, e) -> {
      if (e != null) {
        out.completeExceptionally(e);
      } else if (!out.complete(r)) {
        r.close();
      }
    });
    out.whenComplete((r, e) -> {
      if (out.isCancelled()) {
        f.cancel(false);
      }
    });
  }

  /**
   * Runs an invocation without blocking the caller. A warm one (metadata fresh, modules known
   * ready, the container's sandbox assigned with this version loaded, the body in memory) is
   * written to the agent at once and completes on the agent loop's thread when the answer's
   * head arrives; anything else runs {@link #invoke} on {@code slow}.
   */
  CompletableFuture<InvocationResponse> invokeAsync(WebhookRef ref, InvocationRequest request, Executor slow) {
    ByteBuffer body = request.completeBody().orElse(null);
    WebhookRecord webhook = body == null || !metadata.fresh(ref) ? null : metadata.get(ref).orElse(null);
    NodeRuntime runtime = webhook == null ? null : runtimes.runnable(webhook.runtime());
    List<ModuleRecord> mods = runtime == null ? null : modules.readyFromMemory(webhook.dependencies(), runtime.abi());
    ManagedSandbox m = mods == null ? null : sandboxes.tryAssigned(ref.container(), runtime);
    if (m != null) {
      Long loaded = m.loadedVersion(ref.name());
      if (loaded != null && loaded == webhook.version()) {
        try {
          admission.enter(ref.container());
        } catch (RuntimeException refused) {
          m.exit();
          listener.invocationEnded(ref, 429, 0, false);
          return CompletableFuture.failedFuture(refused);
        }
        return callAsync(m, webhook, request, body, slow, false, System.nanoTime(), new Done(m, ref));
      }
      m.exit();
    }
    CompletableFuture<InvocationResponse> out = new CompletableFuture<>();
    try {
      slow.execute(() -> invokeSlowly(ref, request, out, slow));
    } catch (java.util.concurrent.RejectedExecutionException busy) {
      out.completeExceptionally(new UnavailableException("every invocation thread of this node is busy"
          + " (maxInvocationThreads); retry later"));
    }
    return out;
  }

  private CompletableFuture<InvocationResponse> callAsync(ManagedSandbox m, WebhookRecord webhook,
      InvocationRequest request, ByteBuffer body, Executor slow, boolean cold, long t0, Runnable done) {
    CompletableFuture<InvocationResponse> out = new CompletableFuture<>();
    AgentRequest a = agentRequest(m, webhook, request);
    CompletableFuture<AgentHttp.Response> sent =
        loop.exchange(m.socket(), request.method(), a.target(), a.headers(), body, webhook.limits().timeoutMs());
    sent.whenComplete((r, error) -> {
      m.ended(a.invocationId());
      if (out.isDone()) {
        // cancelled by the caller (its client went away): drop the answer and its connection
        if (r != null) {
          closeQuietly(r);
        }
        done.run();
        return;
      }
      if (error == null && (r.errorCode() == null || r.whole() != null)) {
        settle(out, webhook.ref(), t0, cold, () -> answer(m, webhook, r, cold, done));
      } else {
        if (error != null) {
          done.run();
        }
        // a failure may wait for the sandbox's exit to say why: not on the loop's thread
        Runnable later = () -> settle(out, webhook.ref(), t0, cold, () -> {
          if (error != null) {
            throw failure(m, webhook, unwrap(error));
          }
          return answer(m, webhook, r, cold, done);
        });
        try {
          slow.execute(later);
        } catch (java.util.concurrent.RejectedExecutionException busy) {
          later.run();
        }
      }
    });
    // A caller that cancels (its client disconnected) ends the exchange and frees the connection.
    out.whenComplete((r, e) -> {
      if (out.isCancelled()) {
        sent.cancel(false);
      }
    });
    return out;
  }

  private void settle(CompletableFuture<InvocationResponse> out, WebhookRef ref, long t0, boolean cold,
      java.util.function.Supplier<InvocationResponse> answer) {
    try {
      InvocationResponse r = answer.get();
      listener.invocationEnded(ref, r.status(), System.nanoTime() - t0, cold);
      if (!out.complete(r)) {
        r.close();
      }
    } catch (RuntimeException e) {
      ExtendException x = map(e);
      listener.invocationEnded(ref, x.status(), System.nanoTime() - t0, cold);
      out.completeExceptionally(x);
    }
  }

  private static void closeQuietly(AgentHttp.Response r) {
    try {
      r.body().close();
    } catch (IOException | RuntimeException e) {
      // dropping it anyway
    }
  }

  // ---- link 1: resolve --------------------------------------------------------------------

  private WebhookRecord resolve(WebhookRef ref) {
    Optional<WebhookRecord> r = metadata.get(ref);
    return r.orElseThrow(() -> new NotFoundException("webhook " + ref + " does not exist"));
  }

  // ---- links 2-4: modules, sandbox, code --------------------------------------------------

  /** The webhook's dependencies as built for its runtime's ABI. */
  private static List<ModuleRef> bound(WebhookRecord webhook, int abi) {
    List<ModuleRef> deps = webhook.dependencies();
    if (deps.isEmpty()) {
      return deps;
    }
    List<ModuleRef> out = new ArrayList<>(deps.size());
    for (ModuleRef d : deps) {
      out.add(d.forAbi(abi));
    }
    return out;
  }

  private List<ModuleRecord> modules(WebhookRecord webhook, NodeRuntime runtime) {
    if (webhook.dependencies().isEmpty()) {
      return List.of();
    }
    List<ModuleRecord> mods = modules.records(bound(webhook, runtime.abi()));
    for (ModuleRecord m : mods) {
      if (m.state() != ModuleState.READY) {
        List<ModuleStatus> all = new ArrayList<>();
        for (ModuleRecord r : mods) {
          all.add(r.status());
        }
        throw new ModulesNotReadyException(webhook.ref(), all);
      }
    }
    return mods;
  }

  /**
   * Unpacks the webhook's modules on this node if they are not yet (a stat each when they are).
   * A refused artifact answers like a module that is not ready, with that module failed and
   * the reason; a failing disk is a platform fault (503).
   */
  private void provision(WebhookRecord webhook, List<ModuleRecord> mods) {
    for (ModuleRecord r : mods) {
      try {
        hostModules.ensure(r);
      } catch (ArtifactRefusedException e) {
        List<ModuleStatus> all = new ArrayList<>();
        for (ModuleRecord x : mods) {
          all.add(x == r ? new ModuleStatus(x.module(), ModuleState.FAILED, "refused on this node: " + e.getMessage())
              : x.status());
        }
        throw new ModulesNotReadyException(webhook.ref(), all);
      } catch (IOException e) {
        LOG.warn("module {} cannot be unpacked on this node", r.module(), e);
        throw new UnavailableException("module " + r.module() + " cannot be unpacked on this node; retry later", e);
      }
    }
  }

  private SandboxManager.Lease lease(WebhookRecord webhook, NodeRuntime runtime) {
    CompletableFuture<SandboxManager.Lease> f = sandboxes.acquire(webhook.ref().container(), runtime);
    try {
      return f.join(); // bounded: the manager fails waiters after its wait timeout
    } catch (CompletionException e) {
      throw map(e);
    }
  }

  /** Writes the code and the synthetic node_modules into the sandbox's code dir and loads it. */
  private void load(ManagedSandbox m, WebhookRecord webhook, List<ModuleRecord> mods) {
    String name = webhook.ref().name().value();
    synchronized (m) {
      Long loaded = m.loadedVersion(webhook.ref().name());
      if (loaded != null && loaded == webhook.version()) {
        return;
      }
      try {
        // A sandbox's first code runs under its container's egress policy, never before it.
        egress.prepare(m);
        provision(webhook, mods); // again: the store may have collected one since
        Path dir = m.sandbox().spec().codeDir().resolve(name);
        String version = "v" + webhook.version();
        // The agent reads a version's file only when told to load it, so it is written in place.
        Path vdir = Files.createDirectories(dir.resolve(version));
        Files.writeString(vdir.resolve("index.js"), webhook.code(), StandardCharsets.UTF_8);
        List<ModuleRef> deps = mods.stream().map(ModuleRecord::module).toList();
        if (!deps.isEmpty()) {
          // Per version: Node caches real paths of the paths it resolved, so a node_modules
          // replaced in place would keep serving the old version's modules to the new code.
          hostModules.link(vdir.resolve("node_modules"), deps, m.sandbox().moduleStorePath());
        }
        growMemory(m, webhook);
        Map<String, Object> command = new HashMap<>();
        command.put("version", webhook.version());
        command.put("container", webhook.ref().container().value());
        command.put("file", name + "/" + version + "/index.js");
        command.put("secrets", webhook.secrets());
        command.put("meta", webhook.meta());
        AgentClient.LoadResult r = agents.load(m.socket(), name, command, 30_000);
        if (!r.ok()) {
          throw new FunctionErrorException(r.errorName(), "webhook " + webhook.ref() + " failed to load: " + r.message());
        }
        m.markLoaded(webhook.ref().name(), webhook.version());
        m.markModules(webhook.ref().name(), deps);
        if (loaded != null) {
          removeOldVersions(dir, version);
        }
      } catch (IOException e) {
        if (m.state() == SandboxState.DEAD || m.sandbox().exit().isDone()) {
          throw new UnavailableException("the sandbox of " + webhook.ref().container()
              + " ended while its code was loading; retry", e);
        }
        LOG.warn("cannot place {} in sandbox {}", webhook.ref(), m.id(), e);
        throw new UnavailableException("the code of " + webhook.ref() + " could not be placed in its sandbox; retry");
      } catch (TimeoutException e) {
        sandboxes.recycle(m, "load timed out");
        throw new FunctionTimeoutException("webhook " + webhook.ref() + " did not load within 30 s");
      }
    }
  }

  private void growMemory(ManagedSandbox m, WebhookRecord webhook) {
    int wanted = webhook.limits().memoryMb();
    if (wanted > sandboxLimits.memoryMb()) {
      try {
        m.sandbox().updateLimits(new SandboxLimits(wanted, sandboxLimits.cpuMillis(), sandboxLimits.pids(),
            sandboxLimits.tmpMb()));
      } catch (UncheckedIOException | IllegalStateException e) {
        // The runtime is away: no code runs under limits other than its own.
        LOG.warn("cannot apply the limits of {} to sandbox {}: {}", webhook.ref(), m.id(), e.getMessage());
        throw new UnavailableException("the sandbox runtime cannot apply the limits of " + webhook.ref()
            + " right now; retry");
      }
    }
  }

  private static void removeOldVersions(Path dir, String current) {
    try (Stream<Path> s = Files.list(dir)) {
      s.filter(p -> p.getFileName().toString().matches("v\\d+") && !p.getFileName().toString().equals(current))
          .forEach(FileTrees::deleteTree);
    } catch (IOException e) {
      // as above
    }
  }

  // ---- link 5: call ---------------------------------------------------------------------

  /** What is sent to the agent: its request target and the headers passed on. */
  private record AgentRequest(String target, List<Map.Entry<String, String>> headers, String invocationId) {}

  /** The request to the agent; the sandbox is told the invocation, so its log lines can be attributed. */
  private static AgentRequest agentRequest(ManagedSandbox m, WebhookRecord webhook, InvocationRequest request) {
    String invocationId = Long.toHexString(ThreadLocalRandom.current().nextLong() | Long.MIN_VALUE);
    m.began(invocationId, webhook.ref().name());
    List<Map.Entry<String, String>> headers = new ArrayList<>(request.headers().names().size() + 2);
    request.headers().forEach((name, value) -> {
      if (!AgentClient.HOP_BY_HOP.contains(name)) {
        headers.add(Map.entry(name, value));
      }
    });
    headers.add(Map.entry("x-extend-version", Long.toString(webhook.version())));
    headers.add(Map.entry("x-extend-invocation-id", invocationId));
    String name = webhook.ref().name().value();
    StringBuilder target = new StringBuilder(32 + name.length() + request.path().length())
        .append("/_extend/run/").append(name).append(request.path());
    if (request.query() != null) {
      target.append('?').append(request.query());
    }
    return new AgentRequest(target.toString(), headers, invocationId);
  }

  private InvocationResponse call(ManagedSandbox m, WebhookRecord webhook, InvocationRequest request, boolean cold,
      Runnable done) {
    AgentRequest a = agentRequest(m, webhook, request);
    AgentHttp.Response r;
    try {
      r = http.exchange(m.socket(), request.method(), a.target(), a.headers(), request.body(),
          request.contentLength(), webhook.limits().timeoutMs());
    } catch (IOException | TimeoutException e) {
      done.run();
      throw failure(m, webhook, e);
    } catch (RuntimeException e) {
      done.run();
      throw e;
    } finally {
      m.ended(a.invocationId());
    }
    return answer(m, webhook, r, cold, done);
  }

  /**
   * The agent's answer as the caller sees it: an error it reported becomes an exception. An
   * answer received whole ends the invocation now; one that streams ends it with its body.
   */
  private InvocationResponse answer(ManagedSandbox m, WebhookRecord webhook, AgentHttp.Response r, boolean cold,
      Runnable done) {
    if (r.errorCode() != null) {
      try {
        throw agentError(m, webhook, r.errorCode(), AgentClient.readError(r.body()));
      } finally {
        done.run();
      }
    }
    if (r.whole() != null) {
      done.run();
      return new InvocationResponse(r.status(), r.headers(), r.body(), cold, r.whole());
    }
    return new InvocationResponse(r.status(), r.headers(), new EndingBody(r.body(), done), cold, null);
  }

  /** A streamed body that ends its invocation when it is read to the end, fails or is closed. */
  private static final class EndingBody extends java.io.FilterInputStream {
    private final Runnable done;

    EndingBody(java.io.InputStream in, Runnable done) {
      super(in);
      this.done = done;
    }

    @Override
    public int read() throws IOException {
      try {
        int b = super.read();
        if (b < 0) {
          done.run();
        }
        return b;
      } catch (IOException | RuntimeException e) {
        done.run();
        throw e;
      }
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      try {
        int n = in.read(b, off, len);
        if (n < 0) {
          done.run();
        }
        return n;
      } catch (IOException | RuntimeException e) {
        done.run();
        throw e;
      }
    }

    @Override
    public void close() throws IOException {
      try {
        super.close();
      } finally {
        done.run();
      }
    }
  }

  private ExtendException agentError(ManagedSandbox m, WebhookRecord webhook, String code, JsonNode err) {
    switch (code) {
      case "function_error":
        return new FunctionErrorException(err.path("name").asText("Error"), err.path("message").asText("the webhook failed"));
      case "not_loaded":
        m.markLoaded(webhook.ref().name(), -1);
        return new UnavailableException("the sandbox of " + webhook.ref().container()
            + " lost the code of " + webhook.ref().name() + "; retry");
      default:
        return new FunctionErrorException("Error", err.path("message").asText(code));
    }
  }

  private ExtendException failure(ManagedSandbox m, WebhookRecord webhook, Throwable error) {
    if (error instanceof TimeoutException) {
      sandboxes.recycle(m, "invocation timed out");
      return new FunctionTimeoutException("webhook " + webhook.ref() + " did not answer within "
          + webhook.limits().timeoutMs() + " ms; its sandbox was recycled");
    }
    if (error instanceof ExtendException e) {
      return e;
    }
    if (error instanceof AgentHttp.RequestBodyException f) {
      // The sandbox is fine: only this request's body failed. Its cap error passes through.
      Throwable cause = f.getCause();
      while (cause != null && !(cause instanceof ExtendException)) {
        cause = cause.getCause();
      }
      return cause instanceof ExtendException e ? e : new dev.extend.ValidationException("body", f.getMessage());
    }
    if (error instanceof dev.extend.internal.sandbox.AgentProtocolException p) {
      // Only this connection was dropped; the sandbox serves on.
      return new FunctionErrorException("BadResponse", p.getMessage());
    }
    // The connection broke: most likely the tenant's code ended its process (exit, crash,
    // out of memory). Give the exit a moment to be reported so the error can say why.
    try {
      var exit = m.sandbox().exit().get(500, java.util.concurrent.TimeUnit.MILLISECONDS);
      return new FunctionErrorException("SandboxExit", "the sandbox of " + webhook.ref().container()
          + " ended while serving " + webhook.ref().name() + ": " + exit.reason() + " (it is replaced)");
    } catch (TimeoutException | ExecutionException e) {
      sandboxes.recycle(m, "connection to agent failed: " + error);
      LOG.info("the connection to sandbox {} of {} failed: {}", m.id(), webhook.ref().container(), error.toString());
      // Fixed text: the cause may name host paths; the log above has it.
      return new FunctionErrorException("SandboxError", "the connection to the sandbox of "
          + webhook.ref().container() + " failed while serving " + webhook.ref().name() + " (it is replaced)");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new UnavailableException("interrupted");
    }
  }

  private static Throwable unwrap(Throwable t) {
    while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  static ExtendException map(Throwable error) {
    Throwable t = unwrap(error);
    if (t instanceof ExtendException e) {
      return e;
    }
    LOG.error("invocation failed unexpectedly", t);
    return ExtendException.internal("invocation failed: " + t, t);
  }
}
