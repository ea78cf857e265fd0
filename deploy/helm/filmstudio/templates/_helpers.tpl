{{/* The prefix of every resource name: nameOverride, else the release name. */}}
{{- define "fs.name" -}}
{{- default .Release.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* A Kubernetes name from a studio name: image_generation -> image-generation. */}}
{{- define "fs.dns" -}}
{{- . | replace "_" "-" | lower -}}
{{- end -}}

{{- define "fs.kafka" -}}{{ include "fs.name" . }}-kafka{{- end -}}
{{- define "fs.pg" -}}{{ include "fs.name" . }}-pg{{- end -}}
{{- define "fs.secret" -}}{{ default (printf "%s-secrets" (include "fs.name" .)) .Values.secrets.name }}{{- end -}}

{{/* Labels of everything the chart creates. */}}
{{- define "fs.labels" -}}
app.kubernetes.io/name: filmstudio
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The selector labels of one studio component (ctx: root, component). */}}
{{- define "fs.selector" -}}
app.kubernetes.io/name: filmstudio
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The label every studio process pod carries: the Kafka listener and PostgreSQL admit them. */}}
{{- define "fs.clientLabel" -}}
filmstudio.io/client: {{ include "fs.name" . | quote }}
{{- end -}}

{{- define "fs.image" -}}
{{- $tag := default .root.Chart.AppVersion .image.tag -}}
{{ .image.repository }}:{{ $tag }}
{{- end -}}

{{/*
The pod of one studio process (ctx: root, component, command, kafkaUser, resources, probes,
heartbeat: whether it keeps one (all but the API), gpu, ports, grace). Its configuration arrives as FILMSTUDIO_* variables: the chart's ConfigMap, the
PostgreSQL credentials CloudNativePG generated, the studio's Secret, and the Kafka client
certificate of the component's KafkaUser.
*/}}
{{- define "fs.podSpec" -}}
{{- $root := .root -}}
{{- $gpu := default false .gpu -}}
{{- $metrics := and .heartbeat $root.Values.metrics.enabled -}}
{{- $image := ternary $root.Values.gpuImage $root.Values.image $gpu -}}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets: {{ toYaml . | nindent 2 }}
{{- end }}
securityContext: {{ toYaml $root.Values.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ default 75 .grace }}
{{- $nodeSelector := ternary $root.Values.gpuWorkers.nodeSelector $root.Values.nodeSelector $gpu }}
{{- with $nodeSelector }}
nodeSelector: {{ toYaml . | nindent 2 }}
{{- end }}
{{- $tolerations := ternary $root.Values.gpuWorkers.tolerations $root.Values.tolerations $gpu }}
{{- with $tolerations }}
tolerations: {{ toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: {{ .component }}
    image: {{ include "fs.image" (dict "root" $root "image" $image) }}
    imagePullPolicy: {{ $image.pullPolicy }}
    command: {{ toJson .command }}
    envFrom:
      - configMapRef: {name: {{ include "fs.name" $root }}-config}
      - secretRef: {name: {{ include "fs.secret" $root }}}
    env:
      - name: FILMSTUDIO_PG_USER
        valueFrom: {secretKeyRef: {name: {{ include "fs.pg" $root }}-app, key: username}}
      - name: FILMSTUDIO_PG_PASSWORD
        valueFrom: {secretKeyRef: {name: {{ include "fs.pg" $root }}-app, key: password}}
      # required: without one the container does not start (a process would generate its own)
      {{- range include "fs.requiredSecrets" $root | fromJsonArray }}
      - name: {{ . }}
        valueFrom: {secretKeyRef: {name: {{ include "fs.secret" $root }}, key: {{ . }}}}
      {{- end }}
      {{- if .heartbeat }}
      - name: FILMSTUDIO_HEARTBEAT_FILE
        value: /var/run/filmstudio/heartbeat
      {{- end }}
      {{- if $metrics }}
      - name: PROMETHEUS_MULTIPROC_DIR
        value: /var/run/filmstudio-metrics
      {{- end }}
      {{- if .gpu }}
      - name: FILMSTUDIO_MODELS_DIR
        value: /models
      {{- end }}
    {{- with .ports }}
    ports: {{ toYaml . | nindent 6 }}
    {{- end }}
    {{- .probes | nindent 4 }}
    resources:
      {{- $resources := deepCopy .resources }}
      {{- if .gpu }}
      {{- $gpus := dict "nvidia.com/gpu" (toString $root.Values.gpuWorkers.gpusPerWorker) }}
      {{- $_ := set $resources "requests" (merge $gpus (default dict $resources.requests)) }}
      {{- $_ := set $resources "limits" (merge (deepCopy $gpus) (default dict $resources.limits)) }}
      {{- end }}
      {{- toYaml $resources | nindent 6 }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    volumeMounts:
      - {name: state, mountPath: /var/lib/filmstudio}
      {{- if $root.Values.voiceSamples.claimName }}
      - {name: voice-samples, mountPath: /var/lib/filmstudio/voice-samples}
      {{- end }}
      - {name: run, mountPath: /var/run/filmstudio}
      - {name: tmp, mountPath: /tmp}
      - {name: kafka-ca, mountPath: /etc/filmstudio/kafka-ca, readOnly: true}
      - {name: kafka-user, mountPath: /etc/filmstudio/kafka-user, readOnly: true}
      {{- if .gpu }}
      - {name: models, mountPath: /models, readOnly: true}
      {{- end }}
      {{- if $metrics }}
      - {name: metrics, mountPath: /var/run/filmstudio-metrics}
      {{- end }}
  {{- if $metrics }}
  # The process's Prometheus metrics (prometheus_client's multiprocess files, as under the local
  # supervisor), served on :9464/metrics by a second container of the same image.
  - name: metrics
    image: {{ include "fs.image" (dict "root" $root "image" $image) }}
    imagePullPolicy: {{ $image.pullPolicy }}
    command:
      - python
      - -c
      - |
        import time
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.multiprocess import MultiProcessCollector
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        start_http_server(9464, registry=registry)
        while True:
            time.sleep(3600)
    env:
      - {name: PROMETHEUS_MULTIPROC_DIR, value: /var/run/filmstudio-metrics}
    ports:
      - {name: metrics, containerPort: 9464}
    readinessProbe:
      tcpSocket: {port: metrics}
      periodSeconds: 30
    livenessProbe:
      tcpSocket: {port: metrics}
      periodSeconds: 30
    resources: {{- toYaml $root.Values.metrics.resources | nindent 6 }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    volumeMounts:
      - {name: metrics, mountPath: /var/run/filmstudio-metrics, readOnly: true}
  {{- end }}
volumes:
  - {name: state, emptyDir: {}}
  {{- if $root.Values.voiceSamples.claimName }}
  - name: voice-samples
    persistentVolumeClaim: {claimName: {{ $root.Values.voiceSamples.claimName }}}
  {{- end }}
  - {name: run, emptyDir: {medium: Memory, sizeLimit: 1Mi}}
  - {name: tmp, emptyDir: {}}
  {{- if $metrics }}
  - {name: metrics, emptyDir: {medium: Memory, sizeLimit: 64Mi}}
  {{- end }}
  - name: kafka-ca
    secret: {secretName: {{ include "fs.kafka" $root }}-cluster-ca-cert, items: [{key: ca.crt, path: ca.crt}]}
  - name: kafka-user
    secret: {secretName: {{ .kafkaUser }}, items: [{key: user.crt, path: user.crt}, {key: user.key, path: user.key}]}
  {{- if .gpu }}
  - name: models
    persistentVolumeClaim: {claimName: {{ $root.Values.gpuWorkers.models.claimName }}, readOnly: true}
  {{- end }}
{{- end -}}

{{/*
Probes of a process that keeps a heartbeat (adapters/heartbeat.py): its main loop renews the
file at most once a second while it works. Ready while the heartbeat is under 30 s old (the
supervisor's "healthy", heartbeat.STALE); restarted when it is over 5 minutes old (a loop stuck,
or an outage waited out that long). The start-up probe waits for a fresh beat (the file outlives
a restarted container), up to `startupSeconds` (ctx: startupSeconds; default 300).
*/}}
{{- define "fs.heartbeatProbes" -}}
startupProbe:
  exec: {command: [sh, -c, 'test $(( $(date +%s) - $(stat -c %Y "$FILMSTUDIO_HEARTBEAT_FILE") )) -lt 30']}
  periodSeconds: 5
  failureThreshold: {{ div (default 300 .startupSeconds) 5 }}
readinessProbe:
  exec: {command: [sh, -c, 'test $(( $(date +%s) - $(stat -c %Y "$FILMSTUDIO_HEARTBEAT_FILE") )) -lt 30']}
  periodSeconds: 10
  timeoutSeconds: 5
livenessProbe:
  exec: {command: [sh, -c, 'test $(( $(date +%s) - $(stat -c %Y "$FILMSTUDIO_HEARTBEAT_FILE") )) -lt 300']}
  periodSeconds: 30
  timeoutSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* A PodDisruptionBudget keeping one pod of a component up (ctx: root, component). */}}
{{- define "fs.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "fs.name" .root }}-{{ .component }}
  labels: {{- include "fs.labels" .root | nindent 4 }}
spec:
  {{- if .minAvailable }}
  minAvailable: {{ .minAvailable }}
  {{- else }}
  maxUnavailable: 1
  {{- end }}
  selector:
    matchLabels: {{- include "fs.selector" . | nindent 6 }}
{{- end -}}

{{/* The production's stages (domain/stages.py: STAGES), as a JSON list. */}}
{{- define "fs.stages" -}}
["script_analysis","image_generation","voice_synthesis","music","lip_sync","subtitles","composition"]
{{- end -}}

{{/* The stages with a final-quality (model) backend (domain/stages.py: FINAL_QUALITY_STAGES). */}}
{{- define "fs.finalStages" -}}
["script_analysis","image_generation","voice_synthesis","subtitles"]
{{- end -}}

{{/* The object store's credentials of PostgreSQL's backups (ctx: postgres.backup). */}}
{{- define "fs.s3Credentials" -}}
s3Credentials:
  {{- if .inheritFromIAMRole }}
  inheritFromIAMRole: true
  {{- else }}
  accessKeyId: {name: {{ .credentialsSecret }}, key: {{ .accessKeyIdKey }}}
  secretAccessKey: {name: {{ .credentialsSecret }}, key: {{ .secretAccessKeyKey }}}
  {{- end }}
{{- end -}}

{{/* The studio's Secret's keys that every pod must share (a process generates a missing one). */}}
{{- define "fs.requiredSecrets" -}}
["FILMSTUDIO_JWT_SECRET","FILMSTUDIO_MASTER_KEY","FILMSTUDIO_ACCOUNT_TOKEN_SECRET","FILMSTUDIO_ADMIN_PASSWORD"]
{{- end -}}
