{{/*
NetworkPolicies: selecting the service's pods for both directions denies them everything by
default; the rules then open only the request flow of docs/architecture.md:
- in: from the peers named in networkPolicy.ingressFrom (the edge, or the services that call this
  one) and from monitoring (scrapes /metrics), on the service port only;
- out: cluster DNS, the services and stores in networkPolicy.egressTo, the database when the
  service has one, and networkPolicy.extraEgress (e.g. AWS APIs for S3).
A name resolves to networkPolicy.peers.<name> when set (other namespaces, address blocks such as
RDS), else to the Shopfloor pods app.kubernetes.io/name=<name> of this namespace.
*/}}
{{- define "shopfloor.networkpolicy" -}}
{{- if .Values.networkPolicy.enabled }}
{{- $np := .Values.networkPolicy }}
{{- $port := .Values.port }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  {{- include "shopfloor.metadata" (dict "ctx" . "name" (include "shopfloor.name" .) "component" "server") | nindent 2 }}
spec:
  podSelector:
    matchLabels:
      {{- include "shopfloor.selectorLabels" (dict "ctx" . "component" "server") | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  ingress:
    {{- if $np.ingressFrom }}
    - from:
        {{- range $np.ingressFrom }}
        {{- include "shopfloor.peers" (dict "ctx" $ "name" .) | nindent 8 }}
        {{- end }}
      ports:
        - port: {{ $port }}
          protocol: TCP
    {{- end }}
    - from:
        {{- include "shopfloor.peers" (dict "ctx" $ "name" "monitoring") | nindent 8 }}
      ports:
        - port: {{ $port }}
          protocol: TCP
    {{- if .Values.nodePort.enabled }}
    - from:
        {{- include "shopfloor.peers" (dict "ctx" $ "name" "nodePortClients") | nindent 8 }}
      ports:
        - port: {{ $port }}
          protocol: TCP
    {{- end }}
  egress:
    {{- include "shopfloor.dnsEgress" . | nindent 4 }}
    {{- range $np.egressTo }}
    - to:
        {{- include "shopfloor.peers" (dict "ctx" $ "name" .name) | nindent 8 }}
      ports:
        - port: {{ .port }}
          protocol: TCP
    {{- end }}
    {{- if .Values.database.enabled }}
    {{- include "shopfloor.databaseEgress" . | nindent 4 }}
    {{- end }}
    {{- with $np.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- end }}

{{- define "shopfloor.databaseEgress" -}}
- to:
    {{- include "shopfloor.peers" (dict "ctx" . "name" "postgresql") | nindent 4 }}
  ports:
    - port: {{ .Values.database.port }}
      protocol: TCP
{{- end }}
