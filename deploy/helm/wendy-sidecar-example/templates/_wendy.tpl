{{/*
Wendy as a sidecar of your own workload. Copy this file into your chart's templates/, add the `wendy:` block of
this chart's values.yaml to yours, and include the pieces with one context:

  {{- $wendy := dict "root" . "workload" <your StatefulSet's name> "selector" <your pods' selector labels, a dict> }}
  containers:
    - name: your-app ...            # reaches its node on 127.0.0.1:<wendy.ports.client>
    {{- include "wendy.sidecar.container" $wendy | nindent 4 }}
  volumes:
    {{- include "wendy.sidecar.volumes" $wendy | nindent 4 }}
  serviceName: {{ include "wendy.sidecar.headlessServiceName" $wendy }}

and render "wendy.sidecar.headlessService" and "wendy.sidecar.secret" as objects of their own. Each pod is a
node: its node ID comes from its pod name, its peers find it by its stable name under the headless Service,
and pods 0..seedCount-1 are the seeds. A StatefulSet is what gives pods stable names; a Deployment's pods
would come back as new nodes after every restart.
*/}}

{{- define "wendy.sidecar.headlessServiceName" -}}
{{- printf "%s-wendy" .workload | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wendy.sidecar.secretName" -}}
{{- default (printf "%s-wendy-cluster-secret" .workload) .root.Values.wendy.clusterSecret.existingSecret }}
{{- end }}

{{- define "wendy.sidecar.podDomain" -}}
{{- printf "%s.%s.svc.%s" (include "wendy.sidecar.headlessServiceName" .) .root.Release.Namespace .root.Values.wendy.clusterDomain }}
{{- end }}

{{/* WENDY_JOIN: the stable names of pods 0..min(replicas, seedCount)-1 of the workload. */}}
{{- define "wendy.sidecar.joinAddresses" -}}
{{- $seeds := list }}
{{- $v := .root.Values.wendy }}
{{- range $ordinal := until (int (min (int $.root.Values.replicaCount) (int $v.seedCount))) }}
{{- $seeds = append $seeds (printf "%s-%d.%s:%d" $.workload $ordinal (include "wendy.sidecar.podDomain" $) (int $v.ports.peer)) }}
{{- end }}
{{- $seeds | join "," }}
{{- end }}

{{/* The wendy container, for the pod template's containers. */}}
{{- define "wendy.sidecar.container" -}}
{{- $v := .root.Values.wendy }}
{{- $peer := printf "$(POD_NAME).%s:%d" (include "wendy.sidecar.podDomain" .) (int $v.ports.peer) }}
{{- if le (mul (int .root.Values.terminationGracePeriodSeconds) 1000) (int $v.shutdownGraceMs) }}
{{- fail (printf "terminationGracePeriodSeconds (%d s) must be longer than wendy.shutdownGraceMs (%d ms), or the kubelet kills a node before its graceful leave ends" (int .root.Values.terminationGracePeriodSeconds) (int $v.shutdownGraceMs)) }}
{{- end -}}
- name: wendy
  image: {{ printf "%s:%s" $v.image.repository (default .root.Chart.AppVersion $v.image.tag) }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  args: ["start"]
  ports:
    - name: grpc-peer
      containerPort: {{ int $v.ports.peer }}
      protocol: TCP
    - name: http-metrics
      containerPort: {{ int $v.ports.metrics }}
      protocol: TCP
  env:
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    # The pod name is stable across restarts, so the node ID (SHA-256 of it) is too.
    - name: WENDY_NODE_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: WENDY_BIND_HOST
      value: "0.0.0.0"
    - name: WENDY_PORT
      value: {{ $v.ports.peer | int | quote }}
    - name: WENDY_LOCAL_ADDRESS
      value: {{ $peer | quote }}
    - name: WENDY_GLOBAL_ADDRESS
      value: {{ $peer | quote }}
    - name: WENDY_JOIN
      value: {{ include "wendy.sidecar.joinAddresses" . | quote }}
    # The application is in the same pod: the client port stays on the pod's loopback, no token needed.
    - name: WENDY_CLIENT_HOST
      value: "127.0.0.1"
    - name: WENDY_CLIENT_PORT
      value: {{ $v.ports.client | int | quote }}
    - name: WENDY_METRICS_HOST
      value: "0.0.0.0"
    - name: WENDY_METRICS_PORT
      value: {{ $v.ports.metrics | int | quote }}
    - name: WENDY_SECRET_FILE
      value: {{ printf "/etc/wendy/cluster-secret/%s" $v.clusterSecret.key | quote }}
    - name: WENDY_SHUTDOWN_GRACE_MS
      value: {{ $v.shutdownGraceMs | int | quote }}
  # Ready once joined; alive while the process works (a node waiting for its seeds is not restarted).
  readinessProbe:
    grpc:
      port: {{ int $v.ports.peer }}
      service: wendy.v1.PeerService
    initialDelaySeconds: 2
    periodSeconds: 5
  livenessProbe:
    grpc:
      port: {{ int $v.ports.peer }}
      service: liveness
    initialDelaySeconds: 10
    periodSeconds: 10
    failureThreshold: 6
  resources:
    {{- toYaml $v.resources | nindent 4 }}
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities:
      drop:
        - ALL
  volumeMounts:
    - name: wendy-tmp
      mountPath: /tmp
    - name: wendy-cluster-secret
      mountPath: /etc/wendy/cluster-secret
      readOnly: true
{{- end }}

{{/* The wendy container's volumes, for the pod template's volumes. */}}
{{- define "wendy.sidecar.volumes" -}}
- name: wendy-tmp
  emptyDir:
    sizeLimit: 64Mi
- name: wendy-cluster-secret
  secret:
    secretName: {{ include "wendy.sidecar.secretName" . }}
    defaultMode: 288 # 0440: owner and group (fsGroup) may read
    items:
      - key: {{ .root.Values.wendy.clusterSecret.key }}
        path: {{ .root.Values.wendy.clusterSecret.key }}
{{- end }}

{{/* The headless Service that gives every pod its stable name; the workload's serviceName. */}}
{{- define "wendy.sidecar.headlessService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "wendy.sidecar.headlessServiceName" . }}
  namespace: {{ .root.Release.Namespace }}
spec:
  clusterIP: None
  # Joining pods are not ready yet, but their peers must resolve and reach them to let them in.
  publishNotReadyAddresses: true
  selector:
    {{- toYaml .selector | nindent 4 }}
  ports:
    - name: grpc-peer
      port: {{ int .root.Values.wendy.ports.peer }}
      targetPort: grpc-peer
      protocol: TCP
    - name: http-metrics
      port: {{ int .root.Values.wendy.ports.metrics }}
      targetPort: http-metrics
      protocol: TCP
{{- end }}

{{/* The cluster secret every node must share; generated once and kept across upgrades. Empty with existingSecret. */}}
{{- define "wendy.sidecar.secret" -}}
{{- $v := .root.Values.wendy.clusterSecret }}
{{- if not $v.existingSecret }}
{{- $name := include "wendy.sidecar.secretName" . }}
{{- $encoded := "" }}
{{- if $v.value }}
{{- $encoded = $v.value | b64enc }}
{{- else }}
{{- $encoded = dig "data" $v.key "" (lookup "v1" "Secret" .root.Release.Namespace $name) }}
{{- if not $encoded }}
{{- $encoded = randAlphaNum 48 | b64enc }}
{{- end }}
{{- end }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
  namespace: {{ .root.Release.Namespace }}
type: Opaque
data:
  {{ $v.key }}: {{ $encoded | quote }}
{{- end }}
{{- end }}
