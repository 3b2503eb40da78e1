package dev.extend.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.IssuedToken;
import java.math.BigDecimal;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The example app with a real platform (local runtime): a tenant's webhook changes paid invoices. */
class InvoiceAppTest {
  @TempDir
  Path dataDir;

  @Test
  void aTenantsWebhookTagsPaidInvoicesOthersAreUntouched() throws Exception {
    try (InvoiceApp app = new InvoiceApp(dataDir, 0, "example-admin-token-0123456789")) {
      IssuedToken acme = app.onboard("acme");
      // The tenant writes their webhook through the API, with their own token.
      HttpClient http = HttpClient.newHttpClient();
      HttpResponse<String> put = http.send(HttpRequest.newBuilder(
              URI.create("http://127.0.0.1:" + app.port() + "/api/v1/containers/acme/webhooks/" + InvoiceApp.INVOICE_PAID))
          .header("Authorization", "Bearer " + acme.token())
          .header("Content-Type", "application/json")
          .PUT(HttpRequest.BodyPublishers.ofString(
              "{\"code\": \"module.exports = async (ctx) => ({ tags: ['seen-' + ctx.body.invoice.customer] })\"}"))
          .build(), HttpResponse.BodyHandlers.ofString());
      assertThat(put.statusCode()).as(put.body()).isEqualTo(201);
      // ...and cannot touch another tenant.
      HttpResponse<String> other = http.send(HttpRequest.newBuilder(
              URI.create("http://127.0.0.1:" + app.port() + "/api/v1/containers/globex/webhooks"))
          .header("Authorization", "Bearer " + acme.token()).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(other.statusCode()).isEqualTo(403);

      InvoiceApp.Invoice mine = app.createInvoice("acme", "Ada", new BigDecimal("10"));
      InvoiceApp.Invoice theirs = app.createInvoice("globex", "Linus", new BigDecimal("10"));
      assertThat(app.pay(mine.id()).get(60, TimeUnit.SECONDS).tags()).containsExactly("seen-Ada");
      assertThat(app.pay(theirs.id()).get(60, TimeUnit.SECONDS).tags()).isEmpty();
    }
  }
}
