{{/* The Service other workloads and the edge reach: "<chart>-service", port = targetPort. */}}
{{- define "shopfloor.service" -}}
apiVersion: v1
kind: Service
metadata:
  {{- include "shopfloor.metadata" (dict "ctx" . "name" (include "shopfloor.serviceName" .) "component" "server") | nindent 2 }}
spec:
  type: ClusterIP
  selector:
    {{- include "shopfloor.selectorLabels" (dict "ctx" . "component" "server") | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.port }}
      targetPort: {{ .Values.port }}
      protocol: TCP
{{- end }}

{{/* Optional direct access on every node's port (PRD FR-2.4: http://<node-ip>:30080). */}}
{{- define "shopfloor.nodePortService" -}}
{{- if .Values.nodePort.enabled }}
apiVersion: v1
kind: Service
metadata:
  {{- include "shopfloor.metadata" (dict "ctx" . "name" (printf "%s-nodeport" (include "shopfloor.name" .)) "component" "server") | nindent 2 }}
spec:
  type: NodePort
  selector:
    {{- include "shopfloor.selectorLabels" (dict "ctx" . "component" "server") | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.port }}
      targetPort: {{ .Values.port }}
      nodePort: {{ .Values.nodePort.port }}
      protocol: TCP
{{- end }}
{{- end }}

{{/* One ServiceAccount per service, with no API token: no service calls the Kubernetes API.
Its annotations carry the IAM role (IRSA) where the service calls AWS. */}}
{{- define "shopfloor.serviceaccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  {{- include "shopfloor.metadata" (dict "ctx" . "name" (include "shopfloor.name" .) "component" "server") | nindent 2 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end }}

{{- define "shopfloor.pvc" -}}
{{- if and .Values.persistence.enabled (not .Values.persistence.existingClaim) }}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  {{- include "shopfloor.metadata" (dict "ctx" . "name" (printf "%s-data" (include "shopfloor.name" .)) "component" "server") | nindent 2 }}
  annotations:
    # Uploaded data outlives a rollback or an uninstall of the chart.
    helm.sh/resource-policy: keep
spec:
  accessModes:
    {{- toYaml .Values.persistence.accessModes | nindent 4 }}
  {{- with .Values.persistence.storageClassName }}
  storageClassName: {{ . }}
  {{- end }}
  resources:
    requests:
      storage: {{ .Values.persistence.size }}
{{- end }}
{{- end }}
