#!/usr/bin/env bash
# Installs and starts what the test suite needs on Debian 12 or 13, as root: a JDK (17 or later)
# and Maven, Node.js and npm, containerd + runc, MariaDB (root, empty password, reachable on
# 127.0.0.1:3306) and nginx, through the machine's own apt sources. Everything already present is
# left as it is. The containerd tests start private daemons of their own.
set -euo pipefail
# shellcheck source=scripts/lib/debian.sh
. "$(dirname "$0")/lib/debian.sh"

need_jdk
need mvn maven
need node nodejs
need npm npm
need containerd containerd
need runc runc
# sandbox egress: veth/bridge plumbing and the nftables policy; the egress tests make a CA with openssl
need ip iproute2
need nft nftables
need openssl openssl
command -v mysqld >/dev/null || need mariadbd mariadb-server
need nginx nginx-light
need curl curl
# build sandboxes carry g++, make and python3 for node-gyp (the native addon tests)
need_deb g++ make python3
# the sandbox-boundary tests compile a small static probe program
{ command -v gcc >/dev/null && [ -f "$(gcc -print-file-name=libc.a)" ]; } || need_packages gcc libc6-dev
install_needed

# MariaDB: start it when nothing answers on 3306, then make sure root may log in over TCP
# with an empty password (Debian's default is socket authentication only).
if ! (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; then
  echo "starting MariaDB"
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  for _ in $(seq 1 60); do
    (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null && break
    sleep 0.5
  done
fi
if ! mariadb -h127.0.0.1 -uroot -e 'select 1' >/dev/null 2>&1; then
  echo "allowing root with an empty password on 127.0.0.1"
  mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
    CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
    GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES;"
fi
mariadb -h127.0.0.1 -uroot -e 'CREATE DATABASE IF NOT EXISTS test'

# containerd 1.7 (Debian trixie's package, unpacked into a cache directory, nothing installed):
# the containerd runtime's tests run a second time against it.

# The Debian archives among the configured apt sources, as "URI SOURCES-ENTRY" lines: apt's own
# reading of its sources and of the release files it holds (Origin and Label "Debian": the
# archive, not its security suite, backports or other vendors).
debian_archives() {
  # shellcheck disable=SC2016 # apt-get's own $(FIELD) placeholders
  apt-get indextargets --format '$(REPO_URI) $(SOURCESENTRY)' 'Created-By: Packages' 'Target-Of: deb' \
    'Origin: Debian' 'Label: Debian' | sort -u -k1,1
}

# The keyring a sources entry names with Signed-By, when that is a file. The entry is "FILE:N",
# N counting stanzas in a deb822 .sources file, lines in a one-line .list file.
signed_by() {
  local file=${1%:*} n=${1##*:} key
  case "$file" in
    *.sources) key=$(awk -v RS= -v n="$n" 'NR == n' "$file" | sed -n 's/^Signed-By:[[:space:]]*\([^[:space:]]*\).*/\1/Ip' | head -n 1) ;;
    *) key=$(sed -n "${n}p" "$file" | sed -n 's/.*[[[:space:]]signed-by=\([^][:space:]]*\).*/\1/p') ;;
  esac
  if [ -n "$key" ] && [ -f "$key" ]; then
    echo "$key"
  fi
}

# fetch_trixie_containerd DIR: downloads trixie's containerd from the archives the configured
# sources name, signature checked against the keyring they use (the Debian archive keyring when
# they name none), and unpacks it into DIR. A private apt configuration (its own source list,
# package lists and cache) leaves the machine's apt state as it was.
fetch_trixie_containerd() {
  local dest=$1 uris="" keyring="" uri entry work
  while read -r uri entry; do
    uris+="${uris:+ }$uri"
    [ -n "$keyring" ] || keyring=$(signed_by "$entry")
  done < <(debian_archives)
  if [ -z "$uris" ]; then
    echo "no Debian archive among the configured apt sources (apt-get indextargets lists no index of Origin and" \
      "Label Debian; run apt-get update, or add the archive)" >&2
    return 1
  fi
  # Trixie's release files are signed by keys that the archive keyring package ships with
  # debian-archive-trixie-*.gpg; an older package is updated from the configured suite first.
  if [ ! -f /usr/share/keyrings/debian-archive-trixie-stable.gpg ]; then
    echo "updating debian-archive-keyring: it does not hold trixie's keys yet"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debian-archive-keyring >/dev/null
  fi
  [ -n "$keyring" ] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  echo "fetching containerd 1.7 from Debian trixie ($uris, keyring $keyring) into $dest"
  work=$(mktemp -d)
  mkdir -p "$work/sources.list.d" "$work/preferences.d" "$work/lists/partial" "$work/cache/archives/partial"
  printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' "$uris" "$keyring" \
    > "$work/sources.list.d/trixie.sources"
  local opts=(-o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts="$work/sources.list.d"
    -o Dir::Etc::preferences="$work/preferences" -o Dir::Etc::preferencesparts="$work/preferences.d"
    -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o APT::Sandbox::User=root)
  if ! apt-get -qq "${opts[@]}" update || ! (cd "$work" && apt-get -qq "${opts[@]}" download containerd/trixie); then
    echo "could not download containerd from trixie at $uris (signatures checked with $keyring)" >&2
    rm -rf "$work"
    return 1
  fi
  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp"
  dpkg-deb -x "$work"/containerd_*.deb "$dest.tmp"
  rm -rf "$work"
  if ! "$dest.tmp/usr/bin/containerd" --version | grep -q ' 1\.7\.'; then
    echo "trixie's containerd is not 1.7: $("$dest.tmp/usr/bin/containerd" --version)" >&2
    rm -rf "$dest.tmp"
    return 1
  fi
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
}

c17=/var/cache/extend-test/containerd-1.7
if [ ! -x "$c17/usr/bin/containerd" ]; then
  fetch_trixie_containerd "$c17"
fi

echo "test services ready: $(node --version) node, $(containerd --version | awk '{print $3}') + $("$c17/usr/bin/containerd" --version | awk '{print $3}') containerd, $(mariadb -h127.0.0.1 -uroot -N -e 'select version()') MariaDB"
