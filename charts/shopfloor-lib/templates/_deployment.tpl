{{/*
The service Deployment. What the PRD asks of it, and where each item is made true:
- at least two replicas (schema minimum) unless the HPA owns the count (then `replicas` is omitted);
- startup, liveness and readiness probes on the service's own /livez and /readyz;
- a rollout that drops no request: maxUnavailable 0, then on the way out a preStop pause (the
  endpoint leaves the load balancers while the pod still serves), SIGTERM, SHUTDOWN_DRAIN_SECONDS
  of draining with /readyz at 503, SHUTDOWN_TIMEOUT_SECONDS for in-flight requests, all inside
  terminationGracePeriodSeconds (checked below);
- spread over nodes and zones; requests and limits; the restricted pod security profile;
- checksums of the configuration, so a ConfigMap or Secret-reference change rolls the pods.
*/}}

{{- define "shopfloor.checkShutdown" -}}
{{- $s := .Values.shutdown -}}
{{- $needed := add $s.preStopSeconds $s.drainSeconds $s.timeoutSeconds -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $needed) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed shutdown.preStopSeconds + shutdown.drainSeconds + shutdown.timeoutSeconds (%v), or the kubelet kills requests in flight" .Values.terminationGracePeriodSeconds $needed) -}}
{{- end -}}
{{- $readiness := .Values.probes.readiness -}}
{{- $noticed := mul $readiness.periodSeconds $readiness.failureThreshold -}}
{{- if le (int $s.drainSeconds) (int $noticed) -}}
{{- fail (printf "shutdown.drainSeconds (%v) must exceed probes.readiness.periodSeconds x failureThreshold (%v): the pod must keep serving until its failing /readyz has been noticed" $s.drainSeconds $noticed) -}}
{{- end -}}
{{- end }}

{{- define "shopfloor.probe" -}}
httpGet:
  path: {{ .path }}
  port: http
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end }}

{{- define "shopfloor.deployment" -}}
{{- include "shopfloor.checkShutdown" . -}}
{{- $name := include "shopfloor.name" . -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  {{- include "shopfloor.metadata" (dict "ctx" . "name" $name "component" "server") | nindent 2 }}
  {{- with include "shopfloor.secretAnnotations" . | trim }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: {{ .Values.rollout.maxSurge }}
  selector:
    matchLabels:
      {{- include "shopfloor.selectorLabels" (dict "ctx" . "component" "server") | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "shopfloor.labels" (dict "ctx" . "component" "server") | nindent 8 }}
      annotations:
        checksum/config: {{ include "shopfloor.configmap" . | sha256sum }}
        checksum/secret: {{ printf "%s\n%s" (toJson .Values.secrets) (include "shopfloor.externalsecret" .) | sha256sum }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ .Values.port | quote }}
        prometheus.io/path: /metrics
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ $name }}
      automountServiceAccountToken: false
      # Service links would add FOO_SERVICE_PORT=tcp://... variables next to the settings.
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      securityContext:
        {{- include "shopfloor.podSecurityContext" . | nindent 8 }}
      {{- if .Values.topologySpread.enabled }}
      topologySpreadConstraints:
        {{- range $key, $when := dict "kubernetes.io/hostname" .Values.topologySpread.nodes "topology.kubernetes.io/zone" .Values.topologySpread.zones }}
        - maxSkew: 1
          topologyKey: {{ $key }}
          whenUnsatisfiable: {{ $when }}
          labelSelector:
            matchLabels:
              {{- include "shopfloor.selectorLabels" (dict "ctx" $ "component" "server") | nindent 14 }}
          # Count only the pods of the same ReplicaSet: during a rollout the old pods would
          # otherwise skew the spread of the new ones.
          matchLabelKeys:
            - pod-template-hash
        {{- end }}
      {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $name }}
          image: {{ include "shopfloor.image" . | quote }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          command: [{{ $name | quote }}, "serve"]
          ports:
            - name: http
              containerPort: {{ .Values.port }}
              protocol: TCP
          {{- with include "shopfloor.secretEnv" . | trim }}
          env:
            {{- . | nindent 12 }}
          {{- end }}
          envFrom:
            - configMapRef:
                name: {{ $name }}-config
          startupProbe:
            {{- include "shopfloor.probe" (dict "path" .Values.probes.livenessPath "probe" .Values.probes.startup) | nindent 12 }}
          livenessProbe:
            {{- include "shopfloor.probe" (dict "path" .Values.probes.livenessPath "probe" .Values.probes.liveness) | nindent 12 }}
          readinessProbe:
            {{- include "shopfloor.probe" (dict "path" .Values.probes.readinessPath "probe" .Values.probes.readiness) | nindent 12 }}
          lifecycle:
            preStop:
              sleep:
                seconds: {{ .Values.shutdown.preStopSeconds }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            {{- include "shopfloor.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if .Values.persistence.enabled }}
            - name: data
              mountPath: {{ .Values.persistence.mountPath }}
            {{- end }}
      volumes:
        # The root filesystem is read-only; Python and uploads in progress need a scratch /tmp.
        - name: tmp
          emptyDir:
            sizeLimit: {{ .Values.tmpSizeLimit }}
        {{- if .Values.persistence.enabled }}
        - name: data
          persistentVolumeClaim:
            claimName: {{ .Values.persistence.existingClaim | default (printf "%s-data" $name) }}
        {{- end }}
{{- end }}
