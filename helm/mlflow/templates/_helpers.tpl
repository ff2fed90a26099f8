{{/* Names ---------------------------------------------------------------------------------- */}}

{{- define "mlflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release name when it already contains the chart name (release "mlflow" -> "mlflow"). */}}
{{- define "mlflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mlflow.postgresqlName" -}}
{{- printf "%s-postgresql" (include "mlflow.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mlflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mlflow.labels" -}}
helm.sh/chart: {{ include "mlflow.chart" . }}
{{ include "mlflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: census-pipeline
{{- end }}

{{- define "mlflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mlflow.serverSelectorLabels" -}}
{{ include "mlflow.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "mlflow.postgresqlSelectorLabels" -}}
{{ include "mlflow.selectorLabels" . }}
app.kubernetes.io/component: postgresql
{{- end }}

{{- define "mlflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mlflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mlflow.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end }}

{{/* Service DNS name inside the cluster, e.g. mlflow.mlflow.svc.cluster.local */}}
{{- define "mlflow.serviceFQDN" -}}
{{- printf "%s.%s.svc.%s" (include "mlflow.fullname" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{- define "mlflow.trackingURI" -}}
{{- printf "http://%s:%d" (include "mlflow.serviceFQDN" .) (int .Values.server.port) }}
{{- end }}

{{/* Host headers MLflow 3's security middleware accepts: every cluster DNS form of the Service,
with and without the port (clients send the port only when it is not 80), plus localhost for
kubectl port-forward, plus server.allowedHosts. Without this in-cluster clients get 403. */}}
{{- define "mlflow.allowedHosts" -}}
{{- $name := include "mlflow.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $port := int .Values.server.port }}
{{- $hosts := list }}
{{- range (list $name (printf "%s.%s" $name $ns) (printf "%s.%s.svc" $name $ns) (include "mlflow.serviceFQDN" .) "localhost" "127.0.0.1") }}
{{- $hosts = append $hosts . }}
{{- $hosts = append $hosts (printf "%s:%d" . $port) }}
{{- end }}
{{- range .Values.server.allowedHosts }}
{{- $hosts = append $hosts . }}
{{- end }}
{{- $hosts | uniq | join "," }}
{{- end }}

{{/* Storage ------------------------------------------------------------------------------- */}}

{{- define "mlflow.sqliteClaimName" -}}
{{- default (printf "%s-data" (include "mlflow.fullname" .)) .Values.backendStore.sqlite.existingClaim }}
{{- end }}

{{- define "mlflow.artifactsClaimName" -}}
{{- default (printf "%s-artifacts" (include "mlflow.fullname" .)) .Values.artifacts.pvc.existingClaim }}
{{- end }}

{{- define "mlflow.artifactsDestination" -}}
{{- if eq .Values.artifacts.destination "gcs" }}
{{- $prefix := .Values.artifacts.gcs.prefix | trimAll "/" }}
{{- if $prefix }}
{{- printf "gs://%s/%s" .Values.artifacts.gcs.bucket $prefix }}
{{- else }}
{{- printf "gs://%s/" .Values.artifacts.gcs.bucket }}
{{- end }}
{{- else }}
{{- print "/mlflow/artifacts" }}
{{- end }}
{{- end }}

{{/* Strategy: a ReadWriteOnce volume cannot be mounted by old and new pod at once. */}}
{{- define "mlflow.usesRWOVolume" -}}
{{- if or (eq .Values.backendStore.type "sqlite") (and (eq .Values.artifacts.destination "pvc") (not (has "ReadWriteMany" .Values.artifacts.pvc.accessModes))) }}true{{ end }}
{{- end }}

{{/* Env that defines MLFLOW_BACKEND_STORE_URI (read by `mlflow server` via click's envvar and
expanded by the kubelet into `mlflow db upgrade $(MLFLOW_BACKEND_STORE_URI)`); the password only
ever comes from a Secret. */}}
{{- define "mlflow.backendStoreEnv" -}}
{{- if eq .Values.backendStore.type "sqlite" }}
- name: MLFLOW_BACKEND_STORE_URI
  value: sqlite:////mlflow/data/mlflow.db
{{- else if eq .Values.backendStore.type "postgresql" }}
- name: MLFLOW_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.backendStore.postgresql.existingSecret }}
      key: {{ .Values.backendStore.postgresql.passwordKey }}
- name: MLFLOW_BACKEND_STORE_URI
  value: {{ printf "postgresql+psycopg2://%s:$(MLFLOW_DB_PASSWORD)@%s:5432/%s" .Values.backendStore.postgresql.username (include "mlflow.postgresqlName" .) .Values.backendStore.postgresql.database | quote }}
{{- else }}
- name: MLFLOW_BACKEND_STORE_URI
  valueFrom:
    secretKeyRef:
      name: {{ .Values.backendStore.external.existingSecret }}
      key: {{ .Values.backendStore.external.uriKey }}
{{- end }}
{{- end }}

{{/* The auth app keeps its users in the backend database (its own alembic_version_auth table),
or in basic_auth.db next to mlflow.db on the SQLite PVC. */}}
{{- define "mlflow.authDatabaseURI" -}}
{{- if eq .Values.backendStore.type "sqlite" -}}
sqlite:////mlflow/data/basic_auth.db
{{- else -}}
$(MLFLOW_BACKEND_STORE_URI)
{{- end }}
{{- end }}

{{/* Cross-field checks the schema cannot express; each message names the fix. */}}
{{- define "mlflow.validate" -}}
{{- $replicas := int .Values.replicaCount }}
{{- if and (eq .Values.backendStore.type "sqlite") (gt $replicas 1) }}
{{- fail (printf "backendStore.type=sqlite supports exactly one replica (replicaCount=%d): SQLite on a ReadWriteOnce PVC cannot be shared | fix: set replicaCount=1, or backendStore.type=postgresql (or external)" $replicas) }}
{{- end }}
{{- if and (eq .Values.backendStore.type "sqlite") (gt (int .Values.server.workers) 1) }}
{{- fail (printf "backendStore.type=sqlite with server.workers=%d: SQLite takes one writer at a time, so concurrent trainers get 503 'database is locked' | fix: set server.workers=1, or backendStore.type=postgresql (or external)" (int .Values.server.workers)) }}
{{- end }}
{{- if and (eq .Values.artifacts.destination "pvc") (gt $replicas 1) (not (has "ReadWriteMany" .Values.artifacts.pvc.accessModes)) }}
{{- fail (printf "artifacts.destination=pvc with replicaCount=%d needs a shared volume | fix: set artifacts.pvc.accessModes=[ReadWriteMany], or artifacts.destination=gcs, or replicaCount=1" $replicas) }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (lt $replicas 2) }}
{{- fail "podDisruptionBudget.enabled=true with replicaCount=1 would block every node drain | fix: set replicaCount>=2 (with backendStore.type=postgresql or external), or podDisruptionBudget.enabled=false" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (ge (int .Values.podDisruptionBudget.maxUnavailable) $replicas) }}
{{- fail (printf "podDisruptionBudget.maxUnavailable=%d must be lower than replicaCount=%d or the budget protects nothing | fix: lower podDisruptionBudget.maxUnavailable or raise replicaCount" (int .Values.podDisruptionBudget.maxUnavailable) $replicas) }}
{{- end }}
{{- if and (eq .Values.artifacts.destination "gcs") .Values.artifacts.gcs.emulatorHost .Values.artifacts.gcs.existingSecret }}
{{- fail "artifacts.gcs.emulatorHost and artifacts.gcs.existingSecret are both set: the emulator uses anonymous credentials | fix: unset artifacts.gcs.existingSecret (emulator) or artifacts.gcs.emulatorHost (real GCS)" }}
{{- end }}
{{- if and .Values.auth.enabled (eq .Values.auth.passwordKey .Values.auth.flaskSecretKeyKey) }}
{{- fail "auth.passwordKey and auth.flaskSecretKeyKey name the same Secret key: the admin password must not double as the Flask session secret | fix: store them under two keys" }}
{{- end }}
{{- end }}
