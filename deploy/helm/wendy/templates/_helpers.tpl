{{/* Chart name, overridable. */}}
{{- define "wendy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects. Capped at 52 characters, not 63: a StatefulSet's pods carry the label
controller-revision-hash=<name>-<10-character hash>, and label values are limited to 63 characters.
*/}}
{{- define "wendy.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "wendy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wendy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wendy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "wendy.labels" -}}
helm.sh/chart: {{ include "wendy.chart" . }}
{{ include "wendy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The headless Service that gives every pod a stable DNS name (the StatefulSet's serviceName). */}}
{{- define "wendy.headlessServiceName" -}}
{{- printf "%s-headless" (include "wendy.fullname" .) }}
{{- end }}

{{/* DNS suffix shared by every pod: <pod>.<this> is a pod's stable name. */}}
{{- define "wendy.podDomain" -}}
{{- printf "%s.%s.svc.%s" (include "wendy.headlessServiceName" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/* WENDY_JOIN: pods 0..min(replicas, seedCount)-1 by stable name, then any extra seeds. */}}
{{- define "wendy.joinAddresses" -}}
{{- $seeds := list }}
{{- $count := min (int .Values.replicaCount) (int .Values.join.seedCount) }}
{{- range $ordinal := until (int $count) }}
{{- $seeds = append $seeds (printf "%s-%d.%s:%d" (include "wendy.fullname" $) $ordinal (include "wendy.podDomain" $) (int $.Values.ports.peer)) }}
{{- end }}
{{- concat $seeds .Values.join.extraSeeds | join "," }}
{{- end }}

{{- define "wendy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wendy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "wendy.clusterSecretName" -}}
{{- default (printf "%s-cluster-secret" (include "wendy.fullname" .)) .Values.clusterSecret.existingSecret }}
{{- end }}

{{- define "wendy.clientTokenSecretName" -}}
{{- default (printf "%s-client-token" (include "wendy.fullname" .)) .Values.client.token.existingSecret }}
{{- end }}

{{- define "wendy.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* NetworkPolicy peers: pods of the named namespaces, or of the release's own namespace when none. */}}
{{- define "wendy.namespacePeers" -}}
{{- if .namespaces -}}
- namespaceSelector:
    matchExpressions:
      - key: kubernetes.io/metadata.name
        operator: In
        values:
          {{- toYaml .namespaces | nindent 10 }}
{{- else -}}
- podSelector: {}
{{- end -}}
{{- end }}

{{/*
Checks across values that a JSON schema cannot express. Included by the StatefulSet, so a bad combination
fails rendering with a message that says what to set.
*/}}
{{- define "wendy.validateValues" -}}
{{- if and .Values.client.service.enabled (not (or .Values.client.token.existingSecret .Values.client.token.value)) }}
{{- fail "client.service.enabled=true makes the client port listen on 0.0.0.0, which requires a bearer token: set client.token.existingSecret (a Secret holding the token under client.token.key) or client.token.value" }}
{{- end }}
{{- if and .Values.client.service.enabled (not .Values.client.tls.existingSecret) (not .Values.insecure) }}
{{- fail "client.service.enabled=true makes the client port listen on 0.0.0.0, so its bearer token needs TLS: set client.tls.existingSecret (a Secret with the certificate and key, e.g. from cert-manager), or insecure=true to send it in clear" }}
{{- end }}
{{- if and .Values.clusterSecret.enabled (not .Values.clusterSecret.generate) (not (or .Values.clusterSecret.existingSecret .Values.clusterSecret.value)) }}
{{- fail "clusterSecret.generate=false needs clusterSecret.existingSecret (a Secret holding a random key of >= 128 bits, e.g. `openssl rand -hex 32`) or clusterSecret.value: a secret generated at each render would split the ring" }}
{{- end }}
{{- if and (not .Values.clusterSecret.enabled) (not .Values.insecure) }}
{{- fail "clusterSecret.enabled=false leaves peers unauthenticated (anyone reaching the peer port could join the ring): keep it on, or set insecure=true" }}
{{- end }}
{{- if .Values.identity.enabled }}
{{- $_ := required "identity.enabled=true requires identity.issuer.name: the cert-manager Issuer (or ClusterIssuer, identity.issuer.kind) that signs each pod's certificate through the csi-driver" .Values.identity.issuer.name }}
{{- if .Values.tls.enabled }}
{{- fail "identity.enabled=true gives each pod its own peer certificate: turn tls.enabled off (its shared Secret would not name the node)" }}
{{- end }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- $_ := required "tls.enabled=true requires tls.existingSecret: the name of a Secret holding the certificate, key and CA (tls.certKey, tls.keyKey, tls.caKey)" .Values.tls.existingSecret }}
{{- end }}
{{- if le (mul (int .Values.terminationGracePeriodSeconds) 1000) (int .Values.config.shutdownGraceMs) }}
{{- fail (printf "terminationGracePeriodSeconds (%d s) must be longer than config.shutdownGraceMs (%d ms), or the kubelet kills a node before its graceful leave ends" (int .Values.terminationGracePeriodSeconds) (int .Values.config.shutdownGraceMs)) }}
{{- end }}
{{- end }}

{{/* Peer-port TLS is on: from a shared Secret (tls.enabled) or from per-pod certificates (identity.enabled). */}}
{{- define "wendy.peerTls" -}}
{{- if or .Values.tls.enabled .Values.identity.enabled }}true{{ end }}
{{- end }}
