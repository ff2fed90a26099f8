#!/usr/bin/env bash
# Deletes the Airflow release's finished migration and create-user Jobs before `helm upgrade`.
# They are plain Jobs (useHelmHooks: false, helm/airflow/values.yaml) kept for 300 s after they
# finish; a Job's pod template is immutable, so an upgrade that changes it (a new image) within
# those 300 s fails with "field is immutable". Helm re-creates both Jobs in the upgrade: the
# migration re-runs (a no-op on an up-to-date schema) and the user creation finds the user.
# Job names: helm/airflow/chart-reads.yaml (object_names.jobs). skaffold runs this before the Helm
# releases (skaffold.yaml, both profiles).
# Env: SKAFFOLD_KUBE_CONTEXT or KUBE_CONTEXT, AIRFLOW_NAMESPACE (airflow), AIRFLOW_RELEASE (airflow),
#      JOB_DELETE_TIMEOUT (seconds, default 120).
set -euo pipefail

ctx=${SKAFFOLD_KUBE_CONTEXT:-${KUBE_CONTEXT:-}}
ns=${AIRFLOW_NAMESPACE:-airflow}
release=${AIRFLOW_RELEASE:-airflow}
timeout=${JOB_DELETE_TIMEOUT:-120}

command -v kubectl >/dev/null || {
  echo "ERROR [airflow-jobs] kubectl is not on PATH | fix: install kubectl (README.md, section Run it on kind)" >&2
  exit 2
}
kubectl ${ctx:+--context "${ctx}"} -n "${ns}" delete job \
  "${release}-run-airflow-migrations" "${release}-create-user" \
  --ignore-not-found --wait=true --timeout="${timeout}s"
echo "airflow-jobs: ${ns}/${release}-run-airflow-migrations and ${ns}/${release}-create-user are gone (Helm re-creates them)"
