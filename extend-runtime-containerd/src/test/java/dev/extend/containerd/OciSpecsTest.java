package dev.extend.containerd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.extend.spi.SandboxLimits;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The hardening written into specs, checked on the JSON (no containerd needed). */
class OciSpecsTest {
  static final SandboxLimits LIMITS = new SandboxLimits(256, 1500, 100, 32);
  static final OciSpecs.Identity ID = new OciSpecs.Identity(2_000_000_007, Path.of("/data/tasks/x"));

  static JsonNode sandboxSpec() throws Exception {
    byte[] json = OciSpecs.toJson(OciSpecs.sandbox(ID, Path.of("/data/rootfs/node-20"), Path.of("/a"), Path.of("/s/code"),
        Path.of("/m"), Path.of("/s/sock"), LIMITS, "/extend/ns/x"));
    return OciSpecs.JSON.readTree(json);
  }

  static List<String> texts(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asText()));
    return out;
  }

  @Test
  void sandboxRunsTheAgentAsItsOwnUidWithoutCapabilities() throws Exception {
    JsonNode p = sandboxSpec().get("process");
    assertThat(texts(p.get("args"))).containsExactly("/usr/bin/node", "/extend/agent/agent.js", "--socket",
        "/extend/sock/agent.sock", "--code", "/extend/code", "--modules", "/extend/modules");
    assertThat(texts(p.get("env"))).containsExactly("PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "NODE_ENV=production");
    assertThat(p.get("user").get("uid").asInt()).isEqualTo(2_000_000_007);
    assertThat(p.get("user").get("gid").asInt()).isEqualTo(2_000_000_007);
    assertThat(texts(p.get("user").get("additionalGids"))).containsExactly("2000000007");
    for (String set : List.of("bounding", "effective", "inheritable", "permitted", "ambient")) {
      assertThat(p.get("capabilities").get(set)).as(set).isEmpty();
    }
    assertThat(p.get("noNewPrivileges").asBoolean()).isTrue();
  }

  @Test
  void rootIsReadOnlyAndOnlyTheSocketDirIsWritable() throws Exception {
    JsonNode spec = sandboxSpec();
    assertThat(spec.get("root").get("readonly").asBoolean()).isTrue();
    assertThat(spec.get("root").get("path").asText()).isEqualTo("/data/rootfs/node-20");
    Map<String, List<String>> binds = new java.util.HashMap<>();
    for (JsonNode m : spec.get("mounts")) {
      if (m.get("type").asText().equals("bind")) {
        binds.put(m.get("destination").asText() + " <- " + m.get("source").asText(), texts(m.get("options")));
      }
      if (m.get("destination").asText().equals("/tmp")) {
        assertThat(texts(m.get("options"))).contains("size=32m", "nosuid", "nodev");
      }
    }
    assertThat(binds.keySet()).containsExactlyInAnyOrder("/extend/agent <- /a", "/extend/code <- /s/code",
        "/extend/modules <- /m", "/extend/sock <- /s/sock", "/etc/passwd <- /data/tasks/x/passwd",
        "/etc/group <- /data/tasks/x/group");
    assertThat(binds.get("/etc/passwd <- /data/tasks/x/passwd")).contains("ro").doesNotContain("rw");
    assertThat(binds.get("/etc/group <- /data/tasks/x/group")).contains("ro").doesNotContain("rw");
    binds.forEach((k, opts) -> {
      if (k.startsWith("/extend/sock")) {
        assertThat(opts).contains("rw", "nosuid", "nodev", "noexec");
      } else {
        assertThat(opts).as(k).contains("ro", "rbind", "nosuid", "nodev");
      }
      // JavaScript only: nothing there may be executed; native addons live in the module store.
      if (k.startsWith("/extend/code") || k.startsWith("/extend/agent")) {
        assertThat(opts).as(k).contains("noexec");
      }
      if (k.startsWith("/extend/modules")) {
        assertThat(opts).as(k).doesNotContain("noexec");
      }
    });
  }

  @Test
  void ownNamespacesLimitsAndMaskedPaths() throws Exception {
    JsonNode linux = sandboxSpec().get("linux");
    Set<String> ns = new HashSet<>();
    linux.get("namespaces").forEach(n -> {
      ns.add(n.get("type").asText());
      assertThat(n.has("path")).as("a new namespace, not a host one").isFalse();
    });
    assertThat(ns).containsExactlyInAnyOrder("pid", "ipc", "uts", "mount", "cgroup", "network");
    JsonNode r = linux.get("resources");
    assertThat(r.get("memory").get("limit").asLong()).isEqualTo(256L << 20);
    assertThat(r.get("memory").get("swap").asLong()).isEqualTo(256L << 20);
    assertThat(r.get("cpu").get("quota").asLong()).isEqualTo(150_000);
    assertThat(r.get("cpu").get("period").asLong()).isEqualTo(100_000);
    assertThat(r.get("pids").get("limit").asInt()).isEqualTo(100);
    assertThat(texts(linux.get("maskedPaths"))).contains("/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware",
        "/proc/cmdline", "/proc/sys/kernel/random/boot_id");
    assertThat(texts(linux.get("readonlyPaths"))).contains("/proc/sys", "/proc/sysrq-trigger", "/proc/bus");
    assertThat(linux.get("seccomp").get("defaultAction").asText()).isEqualTo("SCMP_ACT_ERRNO");
  }

  @Test
  void jobsGetLoopbackOnlyAndTheirServiceDirectoryReadOnly() throws Exception {
    JsonNode spec = OciSpecs.JSON.readTree(OciSpecs.toJson(OciSpecs.job(ID, Path.of("/r"), List.of("/usr/bin/npm", "install"),
        Map.of("A", "1"), Path.of("/w"), Path.of("/s"), LIMITS, "/extend/ns/j")));
    Set<String> ns = new HashSet<>();
    spec.get("linux").get("namespaces").forEach(n -> {
      ns.add(n.get("type").asText());
      assertThat(n.has("path")).as("a new namespace, not a host's").isFalse();
    });
    assertThat(ns).containsExactlyInAnyOrder("pid", "ipc", "uts", "mount", "cgroup", "network");
    assertThat(texts(spec.get("process").get("env"))).containsExactly("PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work", "A=1");
    assertThat(spec.get("process").get("cwd").asText()).isEqualTo("/work");
    assertThat(spec.get("process").get("user").get("uid").asInt()).isEqualTo(2_000_000_007);
    assertThat(spec.get("process").get("capabilities").get("bounding")).isEmpty();
    List<String> binds = new java.util.ArrayList<>();
    for (JsonNode m : spec.get("mounts")) {
      if (m.get("type").asText().equals("bind")) {
        binds.add(m.get("source").asText() + ">" + m.get("destination").asText() + " " + texts(m.get("options")));
      }
    }
    assertThat(binds).containsExactlyInAnyOrder("/w>/work [rbind, rw, nosuid, nodev, noexec]",
        "/s>/extend/services [rbind, ro, nosuid, nodev]", "/data/tasks/x/passwd>/etc/passwd [rbind, ro, nosuid, nodev, noexec]",
        "/data/tasks/x/group>/etc/group [rbind, ro, nosuid, nodev, noexec]");
  }

  @Test
  void eachTaskNamesItsOwnUserAndGroup() {
    assertThat(ID.passwd("/tmp")).contains("\nsandbox:x:2000000007:2000000007:sandbox:/tmp:/usr/sbin/nologin\n")
        .contains("nobody:x:65534:65534:");
    assertThat(ID.group()).contains("\nsandbox:x:2000000007:\n");
    assertThatThrownBy(() -> new OciSpecs.Identity(65534, Path.of("/x"))).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void uidsAreNeverHandedOutTwiceWhileTaken() throws Exception {
    SandboxUids uids = new SandboxUids(3_000_000, 3);
    int a = uids.acquire();
    int b = uids.acquire();
    int c = uids.acquire();
    assertThat(List.of(a, b, c)).containsExactly(3_000_000, 3_000_001, 3_000_002);
    assertThatThrownBy(uids::acquire).isInstanceOf(java.io.IOException.class).hasMessageContaining("all 3 sandbox uids");
    uids.release(b);
    assertThat(uids.acquire()).isEqualTo(b);
    uids.release(a);
    uids.release(c);
    // Round the range from the last one taken: a uid just given back waits its turn.
    assertThat(uids.acquire()).isEqualTo(c);
    assertThat(uids.inUse()).isEqualTo(2);
    assertThat(SandboxUids.problem(65535, 1)).contains("at least 65536");
    assertThat(SandboxUids.problem(Integer.MAX_VALUE - 5, 10)).contains("must end at or below");
    assertThat(SandboxUids.problem(100_000, 0)).contains("count must be at least 1");
    assertThat(SandboxUids.problem(SandboxUids.DEFAULT_BASE, SandboxUids.DEFAULT_COUNT)).isNull();
  }

  @Test
  void aUidRangeOverlappingTheHostsUsersIsFound(@org.junit.jupiter.api.io.TempDir Path etc) throws Exception {
    java.nio.file.Files.writeString(etc.resolve("passwd"), "root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n");
    java.nio.file.Files.writeString(etc.resolve("subuid"), "bob:100000:65536\n");
    assertThat(new SandboxUids(SandboxUids.DEFAULT_BASE, SandboxUids.DEFAULT_COUNT).hostOverlap(etc)).isNull();
    assertThat(new SandboxUids(200_000, 100).hostOverlap(etc)).isNull();
    assertThat(new SandboxUids(165_000, 1000).hostOverlap(etc)).contains("subuid", "bob", "100000..165535");
  }

  @Test
  void onlyBuildJobsMayKeepTheirIdsThroughSetresuid() {
    for (JsonNode rule : Seccomp.profile("amd64").get("syscalls")) {
      assertThat(texts(rule.get("names"))).doesNotContainAnyElementsOf(Seccomp.SAME_ID_CALLS);
    }
    int n = 0;
    for (JsonNode rule : Seccomp.profile("amd64", 200_000).get("syscalls")) {
      if (!java.util.Collections.disjoint(texts(rule.get("names")), Seccomp.SAME_ID_CALLS)) {
        n++;
        assertThat(rule.get("args")).hasSize(3);
        for (JsonNode a : rule.get("args")) {
          assertThat(a.get("op").asText()).isEqualTo("SCMP_CMP_MASKED_EQ");
          assertThat(a.get("value").asLong()).isEqualTo(0xFFFFFFFFL);
          assertThat(a.get("valueTwo").asLong()).isIn(200_000L, 0xFFFFFFFFL);
        }
      }
    }
    assertThat(n).isEqualTo(16);
  }

  @Test
  void seccompAllowsNothingDangerous() {
    assertThat(Seccomp.ALLOWED).doesNotContainAnyElementsOf(Seccomp.FORBIDDEN);
    JsonNode p = Seccomp.profile("amd64");
    assertThat(texts(p.get("architectures"))).containsExactly("SCMP_ARCH_X86_64");
    Set<String> unconditional = new HashSet<>();
    for (JsonNode rule : p.get("syscalls")) {
      if (rule.get("action").asText().equals("SCMP_ACT_ALLOW") && !rule.has("args")) {
        unconditional.addAll(texts(rule.get("names")));
      }
      if (texts(rule.get("names")).contains("clone") && rule.get("action").asText().equals("SCMP_ACT_ALLOW")) {
        JsonNode arg = rule.get("args").get(0);
        assertThat(arg.get("op").asText()).isEqualTo("SCMP_CMP_MASKED_EQ");
        // Every CLONE_NEW* flag is in the mask, and the flags must be zero under it.
        long mask = arg.get("value").asLong();
        for (long flag : new long[] {0x00020000L, 0x02000000L, 0x04000000L, 0x08000000L, 0x10000000L, 0x20000000L,
            0x40000000L, 0x00000080L}) {
          assertThat(mask & flag).isEqualTo(flag);
        }
        assertThat(arg.get("valueTwo").asLong()).isZero();
      }
      if (texts(rule.get("names")).contains("clone3")) {
        assertThat(rule.get("action").asText()).isEqualTo("SCMP_ACT_ERRNO");
        assertThat(rule.get("errnoRet").asInt()).isEqualTo(38);
      }
    }
    assertThat(unconditional).doesNotContainAnyElementsOf(Seccomp.FORBIDDEN).doesNotContain("clone", "socket");
    assertThat(Seccomp.FORBIDDEN).contains("memfd_create", "execveat");
    // socket(): AF_UNIX, AF_INET, AF_INET6 with any protocol; AF_NETLINK only with NETLINK_ROUTE.
    Set<String> socketRules = new HashSet<>();
    for (JsonNode rule : p.get("syscalls")) {
      if (texts(rule.get("names")).contains("socket")) {
        StringBuilder sb = new StringBuilder();
        rule.get("args").forEach(a -> sb.append(a.get("index").asInt()).append(a.get("op").asText().replace("SCMP_CMP_", ""))
            .append(a.get("value").asLong()).append(' '));
        socketRules.add(sb.toString().trim());
      }
    }
    assertThat(socketRules).containsExactlyInAnyOrder("0EQ1", "0EQ2", "0EQ10", "0EQ16 2EQ0");
  }

  @Test
  void containerIdsStayWithinContainerdsLimit() {
    ContainerdRuntime rt = ContainerdRuntime.builder().nodeId("a-rather-long-node-name.example.com")
        .socket(Path.of("/nonexistent")).build();
    try {
      String id = rt.containerId("x".repeat(64));
      assertThat(id.length()).isLessThanOrEqualTo(76);
      assertThat(id).matches("[A-Za-z0-9][A-Za-z0-9._-]*");
      assertThat(rt.containerId("a")).isNotEqualTo(rt.containerId("b"));
      ContainerdRuntime short1 = ContainerdRuntime.builder().nodeId("n1").socket(Path.of("/nonexistent")).build();
      assertThat(short1.containerId("sb-1")).isEqualTo("n1.sb-1");
      short1.close();
    } finally {
      rt.close();
    }
  }
}
