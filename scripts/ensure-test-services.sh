#!/usr/bin/env bash
# Installs and starts what the test suite needs on a Debian machine, as root:
# a JDK and Maven, Node.js and npm, containerd + runc, MariaDB (root, empty password,
# reachable on 127.0.0.1:3306) and nginx. Everything already present is left as it is.
set -euo pipefail

need=()
command -v java >/dev/null || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need+=(maven)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
# sandbox egress: veth/bridge plumbing and the nftables policy; the egress tests make a CA with openssl
command -v ip >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
command -v openssl >/dev/null || need+=(openssl)
command -v mariadbd >/dev/null || command -v mysqld >/dev/null || need+=(mariadb-server)
command -v nginx >/dev/null || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
# the sandbox-boundary tests compile a small static probe program
{ command -v gcc >/dev/null && [ -f "$(gcc -print-file-name=libc.a)" ]; } || need+=(gcc libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# MariaDB: start it when nothing answers on 3306, then make sure root may log in over TCP
# with an empty password (Debian's default is socket authentication only).
if ! (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; then
  echo "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
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
c17=/var/cache/extend-test/containerd-1.7
if [ ! -x "$c17/usr/bin/containerd" ]; then
  echo "fetching containerd 1.7 from Debian trixie into $c17"
  work=$(mktemp -d)
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  echo "deb [trusted=yes] http://deb.debian.org/debian trixie main" > "$work/trixie.list"
  opts=(-o Dir::Etc::sourcelist="$work/trixie.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$work/lists"
        -o Dir::Cache="$work/cache" -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root)
  apt-get -qq "${opts[@]}" update
  (cd "$work" && apt-get -qq "${opts[@]}" download containerd)
  mkdir -p "$c17.tmp" && dpkg-deb -x "$work"/containerd_*.deb "$c17.tmp" && rm -rf "$c17" && mv "$c17.tmp" "$c17"
  rm -rf "$work"
fi

echo "test services ready: $(node --version) node, $(containerd --version | awk '{print $3}') + $("$c17/usr/bin/containerd" --version | awk '{print $3}') containerd, $(mariadb -h127.0.0.1 -uroot -N -e 'select version()') MariaDB"
