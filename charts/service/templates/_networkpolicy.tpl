{{/* Egress to the service's database: NetworkPolicy rules of the server (networkpolicy.yaml) and of the migration (migrations.yaml). */}}
{{- define "shopfloor.databaseEgress" -}}
- to:
    {{- include "shopfloor.peers" (dict "ctx" . "name" "postgresql") | nindent 4 }}
  ports:
    - port: {{ .Values.database.port }}
      protocol: TCP
{{- end }}
