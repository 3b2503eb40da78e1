package dev.extend.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.extend.ContainerName;
import dev.extend.ExtendException;
import dev.extend.FunctionErrorException;
import dev.extend.FunctionTimeoutException;
import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.IssuedToken;
import dev.extend.NotFoundException;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.server.ExtendServer;
import dev.extend.server.ServerMetrics;
import dev.extend.spi.SandboxRuntime;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A tiny invoicing SaaS that lets each tenant customise it with their own code. When an
 * invoice is paid, the app fires the tenant's {@code invoice-paid} webhook (if the tenant wrote
 * one) with the event, and applies what it answers: tags to put on the invoice and an optional
 * note. Tenants manage their webhooks through the embedded server's API with a token scoped to
 * their own container.
 *
 * <p>Run it: {@code mvn -pl examples exec:java} (add {@code -Dexec.args=--serve} to keep the
 * server running for curl after the demo).
 */
public final class InvoiceApp implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** The webhook a tenant writes to react to paid invoices. */
  static final String INVOICE_PAID = "invoice-paid";

  /** An invoice of one tenant. */
  record Invoice(String id, String tenant, String customer, BigDecimal amount, List<String> tags, String note) {}

  private final ServerlessPlatform platform;
  private final ExtendServer server;
  private final Map<String, Invoice> invoices = new ConcurrentHashMap<>();
  // Webhooks run off the app's request threads: a slow tenant never slows the app down.
  private final ExecutorService webhookCalls = Executors.newFixedThreadPool(8);

  InvoiceApp(Path dataDir, int port, String adminToken) throws IOException {
    ServerMetrics metrics = ServerMetrics.create();
    this.platform = ServerlessPlatform.builder()
        .dataDir(dataDir)
        // Development runtime: plain processes, not isolated. In production leave this out
        // (containerd is picked when usable) or pass the containerd runtime.
        .sandboxRuntime(SandboxRuntime.localProcesses())
        .poolSize(2)
        .listener(metrics.platformListener())
        .build();
    this.server = ExtendServer.builder(platform)
        .port(port)
        .host("127.0.0.1")
        .adminToken(adminToken)
        .metrics(metrics)
        .build()
        .start();
  }

  /** The embedded server's port. */
  int port() {
    return server.port();
  }

  /** Onboards a tenant: gives them a token for their own container only. */
  IssuedToken onboard(String tenant) {
    return platform.createToken(Set.of(ContainerName.of(tenant)), "API access of tenant " + tenant);
  }

  /** Creates an invoice. */
  Invoice createInvoice(String tenant, String customer, BigDecimal amount) {
    Invoice invoice = new Invoice(UUID.randomUUID().toString(), tenant, customer, amount, List.of(), null);
    invoices.put(invoice.id(), invoice);
    return invoice;
  }

  /**
   * Marks an invoice paid and fires the tenant's webhook in the background; the future
   * completes with the invoice as updated by the webhook's answer.
   */
  Future<Invoice> pay(String invoiceId) {
    Invoice invoice = invoices.get(invoiceId);
    return webhookCalls.submit(() -> {
      Optional<JsonNode> answer = fire(invoice.tenant(), INVOICE_PAID, event("invoice.paid", invoice));
      if (answer.isEmpty()) {
        return invoice;
      }
      List<String> tags = JSON.convertValue(answer.get().path("tags"), JSON.getTypeFactory()
          .constructCollectionType(List.class, String.class));
      Invoice updated = new Invoice(invoice.id(), invoice.tenant(), invoice.customer(), invoice.amount(),
          tags == null ? List.of() : List.copyOf(tags), answer.get().path("note").asText(null));
      invoices.put(updated.id(), updated);
      return updated;
    });
  }

  private static ObjectNode event(String type, Invoice invoice) {
    ObjectNode e = JSON.createObjectNode();
    e.put("type", type);
    ObjectNode data = e.putObject("invoice");
    data.put("id", invoice.id());
    data.put("customer", invoice.customer());
    data.put("amount", invoice.amount());
    return e;
  }

  /**
   * Calls a tenant's webhook with an event. No webhook is fine (most tenants have none); a
   * failing webhook is logged for the tenant and never breaks the app.
   */
  private Optional<JsonNode> fire(String tenant, String webhook, ObjectNode event) {
    WebhookRef ref = WebhookRef.of(tenant, webhook);
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.json(event.toString()))) {
      String body = r.bodyText();
      if (r.status() != 200 || body.isEmpty()) {
        return Optional.empty();
      }
      return Optional.of(JSON.readTree(body));
    } catch (NotFoundException e) {
      return Optional.empty();
    } catch (FunctionErrorException | FunctionTimeoutException e) {
      System.out.println("[" + tenant + "] webhook " + webhook + " failed: " + e.getMessage());
      return Optional.empty();
    } catch (ExtendException | IOException e) {
      System.out.println("[" + tenant + "] webhook " + webhook + " could not run: " + e.getMessage());
      return Optional.empty();
    }
  }

  @Override
  public void close() {
    webhookCalls.shutdown();
    server.close();
    platform.close();
  }

  /** Runs the demo; {@code --serve} keeps the server up afterwards. */
  public static void main(String[] args) throws Exception {
    Path dataDir = Files.createTempDirectory("invoice-app");
    String adminToken = "demo-admin-" + UUID.randomUUID();
    try (InvoiceApp app = new InvoiceApp(dataDir, 8090, adminToken)) {
      IssuedToken acme = app.onboard("acme");
      app.onboard("globex");

      // What acme's developer would PUT through the API with their token; done in-process here.
      app.platform.put(WebhookRef.of("acme", INVOICE_PAID), WebhookSpec.builder("""
          module.exports = async (ctx) => {
            const { invoice } = ctx.body;
            console.log(`invoice ${invoice.id} paid: ${invoice.amount}`);
            const tags = invoice.amount >= 1000 ? ['vip', 'thank-you-call'] : ['paid'];
            return { tags, note: `Thanks ${invoice.customer}! (${ctx.meta.team})` };
          };
          """).meta("team", "billing").build());

      Invoice big = app.createInvoice("acme", "Ada", new BigDecimal("1200.00"));
      Invoice small = app.createInvoice("acme", "Grace", new BigDecimal("40.00"));
      Invoice other = app.createInvoice("globex", "Linus", new BigDecimal("99.00"));
      for (Invoice i : List.of(big, small, other)) {
        Invoice paid = app.pay(i.id()).get();
        System.out.println(paid.tenant() + " " + paid.customer() + " " + paid.amount()
            + " -> tags " + paid.tags() + (paid.note() == null ? "" : ", note: " + paid.note()));
      }
      System.out.println("recent console output of acme: "
          + app.platform.recentLogs(ContainerName.of("acme"), 5).stream().map(l -> l.message()).toList());

      if (List.of(args).contains("--serve")) {
        System.out.println("""

            Server on http://127.0.0.1:%d. As tenant acme:
              curl -H 'Authorization: Bearer %s' http://127.0.0.1:%d/api/v1/containers/acme/webhooks
            Ctrl-C to stop.""".formatted(app.port(), acme.token(), app.port()));
        Thread.currentThread().join();
      }
    }
  }
}
