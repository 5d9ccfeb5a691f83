{{/*
Configuration of a service workload: the ConfigMap of its non-secret settings, the Secret it
reads (never rendered here: an existing Secret or one an ExternalSecret creates) and the
environment both the Deployment and the migration Job get.
*/}}

{{/* Settings the chart owns: a container listens on all interfaces, on the chart's port (and
/metrics, /livez, /readyz, /admin/faults on the management port only), and shuts down in step with the pod's preStop pause and grace period. */}}
{{- define "shopfloor.managedConfig" -}}
{{- if eq (int .Values.port) (int .Values.managementPort) -}}
{{- fail (printf "managementPort (%v) must differ from port: the Ingress routes to port, which must not serve /metrics" .Values.managementPort) -}}
{{- end -}}
HOST: "0.0.0.0"
PORT: {{ .Values.port | quote }}
MANAGEMENT_PORT: {{ .Values.managementPort | quote }}
SERVICE_NAME: {{ include "shopfloor.name" . | quote }}
ENVIRONMENT: {{ .Values.environment | quote }}
SHUTDOWN_DRAIN_SECONDS: {{ .Values.shutdown.drainSeconds | quote }}
SHUTDOWN_TIMEOUT_SECONDS: {{ .Values.shutdown.timeoutSeconds | quote }}
{{- if .Values.persistence.enabled }}
{{ .Values.persistence.envVar }}: {{ .Values.persistence.mountPath | quote }}
{{- end }}
{{- end }}

{{/* Every non-secret variable, as a YAML map: what the ConfigMap holds. */}}
{{- define "shopfloor.configData" -}}
{{- $managed := include "shopfloor.managedConfig" . | fromYaml -}}
{{- range $key, $_ := .Values.config -}}
{{- if and (has $key $.Values.secrets.keys) (ne $.Values.secrets.source "none") -}}
{{- fail (printf "config.%s is also in secrets.keys: give it in one place (a Secret's value, e.g. a rediss:// URL with its AUTH token, must not have a plain twin)" $key) -}}
{{- end -}}
{{- if hasKey $managed $key -}}
{{- fail (printf "config.%s: set by the chart (from port, managementPort, environment, shutdown or persistence); remove it from config" $key) -}}
{{- end -}}
{{- end -}}
{{- $data := dict -}}
{{- range $key, $value := .Values.config }}{{ $_ := set $data $key (toString $value) }}{{ end -}}
{{- range $key, $value := $managed }}{{ $_ := set $data $key (toString $value) }}{{ end -}}
{{- toYaml $data -}}
{{- end }}

{{- define "shopfloor.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  {{- include "shopfloor.metadata" (dict "ctx" . "name" (printf "%s-config" (include "shopfloor.name" .)) "component" "server") | nindent 2 }}
data:
  {{- include "shopfloor.configData" . | nindent 2 }}
{{- end }}

{{/* True (non-empty) when the service reads a Secret. */}}
{{- define "shopfloor.hasSecret" -}}
{{- if and (ne .Values.secrets.source "none") .Values.secrets.keys -}}true{{- end -}}
{{- end }}

{{/*
The variables that come from the Secret, then DATABASE_URL built from them: host, database and
user are the same in every environment (postgresql-service is an ExternalName to RDS on AWS), so
only the password is secret. Kubernetes expands $(DATABASE_PASSWORD) because it is defined above.
*/}}
{{- define "shopfloor.secretEnv" -}}
{{- if include "shopfloor.hasSecret" . }}
{{- range .Values.secrets.keys }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.secrets.name }}
      key: {{ . }}
{{- end }}
{{- end }}
{{- if .Values.database.enabled }}
{{- $db := .Values.database }}
{{- if not (and (include "shopfloor.hasSecret" .) (has $db.passwordKey .Values.secrets.keys)) }}
{{- fail (printf "database.passwordKey %s must be one of secrets.keys (and secrets.source not none): the password comes from the Secret" $db.passwordKey) }}
{{- end }}
- name: DATABASE_URL
  value: {{ printf "postgresql+asyncpg://%s:$(%s)@%s:%v/%s%s" $db.user $db.passwordKey $db.host $db.port $db.name (ternary (printf "?%s" $db.params) "" (ne $db.params "")) | quote }}
{{- end }}
{{- end }}

{{/*
Where the Secret comes from, as a pod-controller annotation: a Secret that no ExternalSecret in
this chart creates must be made outside git (make kind-up, or by hand) before the pods start.
*/}}
{{- define "shopfloor.secretAnnotations" -}}
{{- if and (include "shopfloor.hasSecret" .) (eq .Values.secrets.source "existing") }}
shopfloor.io/external-secrets: {{ .Values.secrets.name | quote }}
{{- end }}
{{- end }}

{{- define "shopfloor.reloadAnnotations" -}}
{{- if include "shopfloor.hasSecret" . }}
{{- /* The pods read the Secret's values only when they start: Reloader (an add-on on every AWS
cluster) rolls the Deployment when the Secret's data changes (a rotation synced by the
ExternalSecret's refreshInterval). checksum/secret only covers the Secret's references. */}}
secret.reloader.stakater.com/reload: {{ .Values.secrets.name | quote }}
{{- end }}
{{- end }}

{{/*
An ExternalSecret (External Secrets Operator, AWS Secrets Manager) that keeps the Secret in sync.
When the chart runs migrations, the migration Job (a pre-install/pre-upgrade hook, Argo CD's
PreSync) needs the Secret before any ordinary resource exists, so the ExternalSecret is then a
hook too, ordered before the Job; creationPolicy Orphan keeps the Secret (and the running pods'
source of it) while the hook object is replaced on the next sync.
*/}}
{{- define "shopfloor.externalsecret" -}}
{{- if and (include "shopfloor.hasSecret" .) (eq .Values.secrets.source "externalSecret") }}
{{- $es := .Values.secrets.externalSecret }}
{{- if not $es.remoteKey }}
{{- fail "secrets.externalSecret.remoteKey: required when secrets.source is externalSecret (the AWS Secrets Manager secret name)" }}
{{- end }}
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  {{- include "shopfloor.metadata" (dict "ctx" . "name" .Values.secrets.name "component" "server") | nindent 2 }}
  {{- if .Values.migrations.enabled }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-10"
    helm.sh/hook-delete-policy: before-hook-creation
  {{- end }}
spec:
  refreshInterval: {{ $es.refreshInterval }}
  secretStoreRef:
    kind: {{ $es.storeKind }}
    name: {{ $es.storeName }}
  target:
    name: {{ .Values.secrets.name }}
    creationPolicy: {{ ternary "Orphan" "Owner" .Values.migrations.enabled }}
  data:
    {{- range .Values.secrets.keys }}
    {{- $ref := index ($es.remoteRefs | default dict) . | default (dict "key" $es.remoteKey "property" .) }}
    - secretKey: {{ . }}
      remoteRef:
        key: {{ $ref.key }}
        property: {{ $ref.property }}
    {{- end }}
{{- end }}
{{- end }}
