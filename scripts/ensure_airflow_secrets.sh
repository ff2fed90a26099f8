#!/usr/bin/env bash
# Creates, once, every Secret the Airflow release reads (helm/airflow/values.yaml; key names as the
# chart templates read them: helm/airflow/chart-reads.yaml). Idempotent: a Secret that exists is
# kept as it is, so a redeploy never rotates the Fernet key, the JWT secret or the DB password.
# One Postgres password feeds both the Postgres Secret and the metadata connection string; when
# only one of the two exists, the other is made from it; when they disagree, it stops.
#
#   skaffold runs it before the Helm releases (skaffold.yaml, both profiles); by hand:
#   KUBE_CONTEXT=kind-census scripts/ensure_airflow_secrets.sh
#
# Env: SKAFFOLD_KUBE_CONTEXT or KUBE_CONTEXT (kube context; default: kubectl's current one),
#      AIRFLOW_NAMESPACE (default airflow), AIRFLOW_RELEASE (default airflow).
# No secret value is ever printed or passed on a command line (manifests go through stdin).
set -euo pipefail

ctx=${SKAFFOLD_KUBE_CONTEXT:-${KUBE_CONTEXT:-}}
ns=${AIRFLOW_NAMESPACE:-airflow}
release=${AIRFLOW_RELEASE:-airflow}
pg_host="${release}-postgresql.${ns}"  # the subchart's Service (chart-reads.yaml: postgresql_service)

kc() { kubectl ${ctx:+--context "${ctx}"} -n "${ns}" "$@"; }
fail() { echo "ERROR [airflow-secrets] $1 | fix: $2" >&2; exit "${3:-1}"; }

command -v kubectl >/dev/null || fail "kubectl is not on PATH" "install kubectl (README.md, section Run it on kind)" 2

# exists NAME: 0 when the Secret exists, 1 when it does not; any other API error stops the script.
exists() {
  local out
  out=$(kc get secret "$1" --ignore-not-found -o name) ||
    fail "cannot read Secret ${ns}/$1 (see kubectl's message above)" "check the kube context and RBAC"
  [ -n "${out}" ]
}

# value NAME KEY: one key of an existing Secret, decoded.
value() { kc get secret "$1" -o "jsonpath={.data.$2}" | base64 -d; }

hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
fernet_key() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n'; }  # urlsafe b64 of 32 bytes

# create NAME KEY VALUE [KEY VALUE...]: a new Opaque Secret from stdin (fails if it exists meanwhile).
create() {
  local name=$1; shift
  local data="" sep=""
  while [ $# -gt 0 ]; do
    data+="${sep}\"$1\": \"$2\""; sep=", "; shift 2
  done
  kc create -f - >/dev/null <<JSON
{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
 "metadata": {"name": "${name}", "namespace": "${ns}",
              "labels": {"app.kubernetes.io/part-of": "census-pipeline",
                         "app.kubernetes.io/managed-by": "ensure_airflow_secrets"}},
 "stringData": {${data}}}
JSON
  echo "airflow-secrets: created ${ns}/${name}"
}

keep() { echo "airflow-secrets: ${ns}/$1 exists, kept"; }

# ensure NAME KEY GENERATOR...: create NAME with KEY=$(GENERATOR...) unless NAME exists.
ensure() {
  local name=$1 key=$2; shift 2
  if exists "${name}"; then keep "${name}"; else create "${name}" "${key}" "$("$@")"; fi
}
ensure airflow-fernet-key fernet-key fernet_key      # values.yaml fernetKeySecretName
ensure airflow-jwt-secret jwt-secret hex 32          # values.yaml jwtSecretName
ensure airflow-api-secret-key api-secret-key hex 32  # values.yaml apiSecretKeySecretName
ensure airflow-admin password hex 16                 # values.yaml createUserJob.env; README.md reads it back

connection_for() { echo "postgresql://postgres:$1@${pg_host}:5432/postgres?sslmode=disable"; }
have_pg=0; have_meta=0
exists airflow-postgresql && have_pg=1
exists airflow-metadata && have_meta=1
if [ "${have_pg}" = 1 ] && [ "${have_meta}" = 1 ]; then
  password=$(value airflow-postgresql postgres-password)
  [ "$(value airflow-metadata connection)" = "$(connection_for "${password}")" ] ||
    fail "Secrets ${ns}/airflow-postgresql and ${ns}/airflow-metadata disagree (password or host)" \
      "delete airflow-metadata and re-run this script (it rebuilds the connection from airflow-postgresql)"
  keep airflow-postgresql; keep airflow-metadata
elif [ "${have_pg}" = 1 ]; then
  keep airflow-postgresql
  create airflow-metadata connection "$(connection_for "$(value airflow-postgresql postgres-password)")"
elif [ "${have_meta}" = 1 ]; then
  keep airflow-metadata
  password=$(value airflow-metadata connection | sed -n 's|^postgresql://postgres:\([^@]*\)@.*$|\1|p')
  [ -n "${password}" ] || fail "cannot read the password from ${ns}/airflow-metadata" \
    "delete airflow-metadata (and the Postgres PVC if the database was initialised) and re-run"
  create airflow-postgresql postgres-password "${password}"
else
  password=$(hex 24)  # hex: safe inside the connection URI
  create airflow-postgresql postgres-password "${password}"
  create airflow-metadata connection "$(connection_for "${password}")"
fi
