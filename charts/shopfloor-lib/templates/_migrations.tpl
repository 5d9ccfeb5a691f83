{{/*
Database migrations: `<service> migrate` (Alembic upgrade to head: idempotent, a no-op when the
schema is current) as a Helm pre-install/pre-upgrade hook, which Argo CD runs as a PreSync hook:
the new schema is in place before any new pod starts, and a failed migration stops the rollout
with the old pods still serving. The Job depends on nothing the release itself creates later:
its configuration is inlined, its ServiceAccount is a hook ordered before it, and its Secret is
an existing one or an ExternalSecret hook ordered before it too.
*/}}
{{- define "shopfloor.migrations" -}}
{{- if .Values.migrations.enabled }}
{{- if not .Values.database.enabled }}
{{- fail "migrations.enabled needs database.enabled: migrations run against the service's database" }}
{{- end }}
{{- $name := printf "%s-migrate" (include "shopfloor.name" .) }}
apiVersion: v1
kind: ServiceAccount
metadata:
  {{- include "shopfloor.metadata" (dict "ctx" . "name" $name "component" "migrate") | nindent 2 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-10"
    helm.sh/hook-delete-policy: before-hook-creation
automountServiceAccountToken: false
---
apiVersion: batch/v1
kind: Job
metadata:
  {{- include "shopfloor.metadata" (dict "ctx" . "name" $name "component" "migrate") | nindent 2 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "0"
    # Keep the finished Job (and its log) until the next release replaces it.
    helm.sh/hook-delete-policy: before-hook-creation
    {{- with include "shopfloor.secretAnnotations" . | trim }}
    {{- . | nindent 4 }}
    {{- end }}
spec:
  backoffLimit: {{ .Values.migrations.backoffLimit }}
  activeDeadlineSeconds: {{ .Values.migrations.activeDeadlineSeconds }}
  template:
    metadata:
      labels:
        {{- include "shopfloor.labels" (dict "ctx" . "component" "migrate") | nindent 8 }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ $name }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      securityContext:
        {{- include "shopfloor.podSecurityContext" . | nindent 8 }}
      containers:
        - name: migrate
          image: {{ include "shopfloor.image" . | quote }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          command: [{{ include "shopfloor.name" . | quote }}, "migrate"]
          env:
            {{- range $key, $value := include "shopfloor.configData" . | fromYaml }}
            - name: {{ $key }}
              value: {{ $value | quote }}
            {{- end }}
            {{- include "shopfloor.secretEnv" . | trim | nindent 12 }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            {{- include "shopfloor.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if .Values.networkPolicy.enabled }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  {{- include "shopfloor.metadata" (dict "ctx" . "name" $name "component" "migrate") | nindent 2 }}
spec:
  podSelector:
    matchLabels:
      {{- include "shopfloor.selectorLabels" (dict "ctx" . "component" "migrate") | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  # Nothing calls a migration; it calls only DNS and its database.
  ingress: []
  egress:
    {{- include "shopfloor.dnsEgress" . | nindent 4 }}
    {{- include "shopfloor.databaseEgress" . | nindent 4 }}
{{- end }}
{{- end }}
{{- end }}
