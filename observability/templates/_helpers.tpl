{{/* Labels of every object of this chart. */}}
{{- define "observability.labels" -}}
app.kubernetes.io/name: shopfloor-observability
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: shopfloor
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The rule files, in order: one PrometheusRule each (the production SLO rules, never the lab ones). */}}
{{- define "observability.ruleFiles" -}}
{{- $files := list }}
{{- range $path, $_ := .Files.Glob "rules/*.yaml" }}{{ $files = append $files $path }}{{ end }}
{{- $files = append (sortAlpha $files) "generated/slo-rules.yaml" }}
{{- toJson $files }}
{{- end }}
