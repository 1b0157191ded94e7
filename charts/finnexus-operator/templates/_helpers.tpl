{{/* Names ------------------------------------------------------------------------------ */}}
{{- define "finnexus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "finnexus.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "finnexus.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "finnexus.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "finnexus.metricsServiceName" -}}
{{- printf "%s-metrics" (include "finnexus.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels ----------------------------------------------------------------------------- */}}
{{- define "finnexus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "finnexus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "finnexus.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "finnexus.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Behaviour --------------------------------------------------------------------------- */}}
{{/* Leader election (a coordination.k8s.io/v1 Lease) is on exactly when more than one
replica runs. */}}
{{- define "finnexus.leaderElection" -}}
{{- if gt (int .Values.replicas) 1 }}true{{ end }}
{{- end }}

{{/* The Lease: leaderElection.leaseName, or the release's full name (one per release, so
one Lease per shard when each shard is its own release). */}}
{{- define "finnexus.leaseName" -}}
{{- default (include "finnexus.fullname" .) .Values.leaderElection.leaseName | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "finnexus.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
RBAC rules: must equal finnexus_operator/rbac.py RULES (and LEASE_RULES, in a Role of the
operator's own namespace, with leader election); tests/packaging/test_rbac.py renders the
chart and compares them.
*/}}
{{- /* finnexus_operator/rbac.py TEMPLATE_RULES: cluster-scoped, always a ClusterRole */ -}}
{{- define "finnexus.templateRules" -}}
- apiGroups: ["finnexus.ai"]
  resources: ["finnexusanalysistemplates"]
  verbs: ["list", "watch"]
{{- end }}

{{- define "finnexus.rules" -}}
- apiGroups: ["finnexus.ai"]
  resources: ["finnexusdeployments"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["finnexus.ai"]
  resources: ["finnexusdeployments/status"]
  verbs: ["patch"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "create", "patch", "list", "watch"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "create", "patch", "list", "watch"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "create", "patch", "delete", "list", "watch"]
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: ["apps"]
  resources: ["controllerrevisions"]
  verbs: ["get", "create", "list", "watch", "delete"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "create", "list", "watch", "delete"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}
