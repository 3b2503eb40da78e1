package dev.extend.containerd;

import dev.extend.ContainerName;
import dev.extend.EgressPolicy;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EgressSmokeContainerdTest {
  @TempDir Path tmp;

  @Test
  void smoke() throws Exception {
    try (TestHosts hosts = new TestHosts(); TestDns dns = new TestDns()) {
      TestHosts.Host pub = hosts.add("203.0.113.1/24", "203.0.113.10");
      TestHosts.Host priv = hosts.add("10.77.0.1/24", "10.77.0.10");
      TestCerts certs = TestCerts.create(tmp.resolve("certs"), "public.test", "203.0.113.10");
      hosts.serve(pub, certs.key(), certs.cert(), "public");
      dns.names.put("public.test", "203.0.113.10");
      dns.names.put("private.test", "10.77.0.10");
      try (ContainerdPlatform p = ContainerdPlatform.start("egress", tmp.resolve("data"),
          b -> b.egressCaCerts(certs.ca()).egressNetwork("extest0", "10.214.0.0/16").egressDns(List.of(dns.address())), b -> b)) {
        WebhookRef ref = WebhookRef.of("acme", "out");
        p.platform.put(ref, WebhookSpec.builder(String.join("\n",
            "module.exports = async (ctx) => {",
            "  if (!ctx.query.url) return 'ready';",
            "  try { const r = await fetch(ctx.query.url); return await r.text(); } catch (e) { return 'ERR ' + e.message + ' ' + (e.cause && e.cause.code); }",
            "};")).build());
        System.out.println("first: " + p.call(ref, ""));
        for (ContainerdTask t : p.runtime.tasksForTest()) {
          p.runtime.applyEgress(t, ContainerName.of("acme"), EgressPolicy.PUBLIC.plus(EgressPolicy.parseList("x", "203.0.113.0/24")));
        }
        System.out.println("by ip: " + p.call(ref, "url=http://203.0.113.10/x"));
        System.out.println("by name: " + p.call(ref, "url=http://public.test/y"));
        System.out.println("https: " + p.call(ref, "url=https://public.test/z"));
        System.out.println("private: " + p.call(ref, "url=http://10.77.0.10/"));
        System.out.println("private name: " + p.call(ref, "url=http://private.test/"));
        System.out.println("gateway: " + p.call(ref, "url=http://10.214.0.1:22/"));
        System.out.println("loopback db: " + p.call(ref, "url=http://127.0.0.1:3306/"));
        Thread.sleep(2500);
        System.out.println("counters: " + p.runtime.egressCounters());
        System.out.println(Nft.tryRun("list", "table", "inet", "extend_extest0"));
      }
    }
  }
}
