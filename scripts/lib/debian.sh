# shellcheck shell=bash
# Sourced by scripts/run.sh and scripts/ensure-test-services.sh, on Debian 12 (bookworm) or
# 13 (trixie) as root: installs what is missing through the machine's own apt sources, and
# starts containerd when it does not answer. Nothing is installed or started that is already
# there, so a second run makes no apt call at all.

# Debian installs ip, nft, runc and mariadbd in sbin; a root shell without it on the PATH (su
# without -) must not reinstall them at every run.
case ":$PATH:" in
  *:/usr/sbin:*) ;;
  *) PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" ;;
esac

# The packages to install; @jdk stands for the JDK package this release has.
extend_packages=()

# need COMMAND PACKAGE...: the packages are installed when COMMAND is not on the PATH.
need() {
  command -v "$1" >/dev/null 2>&1 || extend_packages+=("${@:2}")
}

# need_deb PACKAGE...: each Debian package that dpkg does not list as installed (a command of
# the same name from elsewhere, e.g. a python3 of pyenv, does not count: build sandboxes copy
# the package's files).
need_deb() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || extend_packages+=("$p")
  done
}

# need_packages PACKAGE...: installed unconditionally (the caller checked).
need_packages() {
  extend_packages+=("$@")
}

# The major version of the JDK builds use: $JAVA_HOME's when set (Maven takes it), else the
# javac on the PATH; nothing when there is none.
jdk_major() {
  local javac=javac
  if [ -n "${JAVA_HOME:-}" ]; then
    javac="$JAVA_HOME/bin/javac"
  fi
  command -v "$javac" >/dev/null 2>&1 || return 0
  "$javac" -version 2>&1 | awk '$1 == "javac" { v = $2; sub(/^1\./, "", v); sub(/[^0-9].*/, "", v); print v; exit }'
}

# need_jdk: a JDK (javac) of at least 17, which the build's maven.compiler.release needs.
need_jdk() {
  local major
  major=$(jdk_major)
  [ -n "$major" ] && [ "$major" -ge 17 ] || extend_packages+=(@jdk)
}

# The version apt would install of a package from the configured sources, or nothing.
apt_candidate() {
  apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2; exit }'
}

# The oldest headless JDK of at least 17 that the configured sources offer: Debian 12 has
# openjdk-17-jdk-headless, Debian 13 openjdk-21-jdk-headless and openjdk-25-jdk-headless (no 17).
jdk_package() {
  local p major
  while read -r p; do
    major=${p#openjdk-}
    major=${major%%-*}
    if [ "$major" -ge 17 ] && [ -n "$(apt_candidate "$p")" ]; then
      echo "$p"
      return 0
    fi
  done < <(apt-cache pkgnames openjdk- 2>/dev/null | grep -E '^openjdk-[0-9]+-jdk-headless$' | sort -t- -k2,2n)
  if [ -n "$(apt_candidate default-jdk-headless)" ]; then
    echo default-jdk-headless
    return 0
  fi
  return 1
}

# install_needed: installs what need/need_jdk collected, if anything.
install_needed() {
  [ ${#extend_packages[@]} -gt 0 ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${extend_packages[*]/@jdk/a JDK 17 or later}; run this as root to install them" >&2
    return 1
  fi
  apt-get update -qq
  local p jdk="" packages=()
  for p in "${extend_packages[@]}"; do
    if [ "$p" = @jdk ]; then
      if ! jdk="$(jdk_package)"; then
        echo "no JDK 17 or later among the configured apt sources (looked for openjdk-N-jdk-headless, N >= 17," \
          "and default-jdk-headless)" >&2
        return 1
      fi
      p=$jdk
    fi
    packages+=("$p")
  done
  echo "installing: ${packages[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  extend_packages=()
  if [ -n "$jdk" ]; then
    local major
    major=$(jdk_major)
    if [ -z "$major" ] || [ "$major" -lt 17 ]; then
      echo "installed $jdk, but the JDK builds would use is ${major:-none}:" \
        "${JAVA_HOME:+JAVA_HOME=$JAVA_HOME; }set JAVA_HOME to /usr/lib/jvm/<the new JDK> or run update-alternatives --config javac" >&2
      return 1
    fi
  fi
}

# The socket of the containerd Debian's package runs.
readonly DEBIAN_CONTAINERD_SOCKET=/run/containerd/containerd.sock

# containerd_answers SOCKET: whether a containerd answers there.
containerd_answers() {
  [ -S "$1" ] && timeout 5 ctr --address "$1" version >/dev/null 2>&1
}

# start_containerd [SOCKET]: when no containerd answers on SOCKET (default Debian's), starts
# Debian's containerd: its systemd unit when systemd runs this machine, else the daemon in its
# own session in the background, logging to /var/log/extend-containerd.log. Waits until it
# answers. A socket elsewhere is only checked: this does not know how to start that daemon.
start_containerd() {
  local socket=${1:-$DEBIAN_CONTAINERD_SOCKET} log=/var/log/extend-containerd.log how
  containerd_answers "$socket" && return 0
  if [ "$socket" != "$DEBIAN_CONTAINERD_SOCKET" ]; then
    echo "no containerd answers at $socket; start the one that serves it" >&2
    return 1
  fi
  if [ -d /run/systemd/system ]; then
    echo "starting containerd (systemctl start containerd)"
    how="journalctl -u containerd"
    systemctl start containerd || { echo "systemctl start containerd failed; see $how" >&2; return 1; }
  else
    echo "starting containerd in the background (log: $log)"
    how=$log
    setsid containerd >>"$log" 2>&1 </dev/null &
  fi
  local deadline=$((SECONDS + 30))
  while [ "$SECONDS" -lt "$deadline" ]; do
    containerd_answers "$socket" && return 0
    sleep 0.2
  done
  echo "containerd did not answer at $socket within 30 s; see $how" >&2
  [ -f "$log" ] && [ "$how" = "$log" ] && tail -n 20 "$log" >&2
  return 1
}
