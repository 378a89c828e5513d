#!/usr/bin/env bash
# Start the services the integration tests need (PostgreSQL, Redis) when they are not
# running, installing them with apt-get when they are missing (needs root), and install
# the headless browser of the dashboard test (Debian's chromium and chromium-driver) when
# it is missing. The Kafka protocol broker is not a service: the tests start the embedded
# Tansu binary themselves.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@"
}

wait_for() { # port name
  for _ in $(seq 1 60); do listening "$1" && return 0; sleep 0.5; done
  echo "ensure-services: $2 did not start on port $1" >&2; return 1
}

if ! listening 5432; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Tests connect as postgres over TCP without a password, like the CI machines.
  if ! grep -q "^host all all 127.0.0.1/32 trust" "$hba"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for 5432 PostgreSQL
fi

if ! listening 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/sieve.log
  wait_for 6379 Redis
fi
# tests/integration/test_dashboard.py drives /usr/bin/chromium through /usr/bin/chromedriver.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  apt_install chromium chromium-driver
fi
echo "services: PostgreSQL on 5432 and Redis on 6379 are up; chromium is installed"
