{{/*
Names, labels and the pod hardening every Shopfloor workload shares.

A workload is named after its Helm release: Argo CD and `shopfloor render` release each folder
environments/<env>/<name>/ as <name> (frontend, api-gateway, catalog, orders with charts/service;
postgresql, redis with their own charts). The PRD fixes the Service names (frontend-service,
api-gateway-service, postgresql-service) and other services reach them by these names in every
environment, so the release name is part of the contract: release a chart under its folder's name.
*/}}

{{- define "shopfloor.name" -}}
{{- .Release.Name -}}
{{- end }}

{{- define "shopfloor.serviceName" -}}
{{- printf "%s-service" .Release.Name -}}
{{- end }}

{{/* The image tag as a label value (labels allow [A-Za-z0-9._-], at most 63 characters). */}}
{{- define "shopfloor.version" -}}
{{- with .Values.image.tag -}}
{{- regexReplaceAll "[^A-Za-z0-9._-]" . "_" | trunc 63 | trimSuffix "-" | trimSuffix "_" | trimSuffix "." -}}
{{- end -}}
{{- end }}

{{/* Labels of every object; call with (dict "ctx" $ "component" "server"). */}}
{{- define "shopfloor.labels" -}}
{{- $ctx := .ctx -}}
helm.sh/chart: {{ printf "%s-%s" $ctx.Chart.Name $ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "shopfloor.selectorLabels" . }}
app.kubernetes.io/part-of: shopfloor
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
{{- with (include "shopfloor.version" $ctx) }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
{{- end }}

{{/* The labels a selector matches: stable for the life of the release (selectors are immutable). */}}
{{- define "shopfloor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shopfloor.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* metadata.name/namespace/labels; call with (dict "ctx" $ "name" "x" "component" "server"). */}}
{{- define "shopfloor.metadata" -}}
name: {{ .name }}
namespace: {{ .ctx.Release.Namespace }}
labels:
  {{- include "shopfloor.labels" . | nindent 2 }}
{{- end }}

{{/* repository[:tag][@digest]: the digest, when CI has written one, is what the node pulls. */}}
{{- define "shopfloor.image" -}}
{{- $image := .Values.image -}}
{{- $ref := $image.repository -}}
{{- with $image.tag }}{{ $ref = printf "%s:%s" $ref . }}{{ end -}}
{{- with $image.digest }}{{ $ref = printf "%s@%s" $ref . }}{{ end -}}
{{- $ref -}}
{{- end }}

{{/*
Pod-level hardening (Pod Security Standard "restricted"): non-root with a fixed high UID so a
volume's group ownership (fsGroup) lets the process write, RuntimeDefault seccomp.
*/}}
{{- define "shopfloor.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsUser }}
fsGroup: {{ .Values.securityContext.runAsUser }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "shopfloor.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsUser }}
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
A NetworkPolicy peer list for a name: the peers configured under networkPolicy.peers.<name>
(outside the namespace, or an address block), else the pods of the Shopfloor workload <name> in
this namespace. Call with (dict "ctx" $ "name" "catalog").
*/}}
{{- define "shopfloor.peers" -}}
{{- $peers := index .ctx.Values.networkPolicy.peers .name | default list -}}
{{- if $peers -}}
{{ toYaml $peers }}
{{- else -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/name: {{ .name }}
      app.kubernetes.io/part-of: shopfloor
{{- end -}}
{{- end }}

{{/* Egress to the cluster DNS, which every workload needs to resolve a Service name. */}}
{{- define "shopfloor.dnsEgress" -}}
- to:
    {{- include "shopfloor.peers" (dict "ctx" . "name" "dns") | nindent 4 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}
