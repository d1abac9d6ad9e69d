"""The schema table itself: every field of every kind minikube8s serves, in schema.py's
compact notation (``"TYPE [options] | description"``; see schema.py for the grammar).

Kept apart from schema.py's code because it is pure data, long, and edited on its own when a
field is added. Texts follow the Kubernetes API reference, shortened.
"""

from __future__ import annotations

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
CORE = "io.k8s.api.core.v1."

META_FIELDS = {
    "apiVersion": "string | APIVersion defines the versioned schema of this representation "
                  "of an object.",
    "kind": "string | Kind is a string value representing the REST resource this object "
            "represents.",
}

TYPES: dict[str, dict[str, str]] = {
    # ----------------------------------------------------------------- meta
    "ObjectMeta": {
        "name": "string | Name must be unique within a namespace.",
        "generateName": "string | Optional prefix used by the server to generate a unique name.",
        "namespace": "string | Namespace defines the space within which each name must be "
                     "unique.",
        "selfLink": "string | Deprecated.",
        "uid": "string | UID is the unique in time and space value for this object.",
        "resourceVersion": "string | An opaque value that represents the internal version of "
                           "this object.",
        "generation": "int64 | A sequence number representing a specific generation of the "
                      "desired state.",
        "creationTimestamp": "Time | When this object was created.",
        "deletionTimestamp": "Time | When this resource will be deleted.",
        "deletionGracePeriodSeconds": "int64 | Seconds allowed for graceful termination.",
        "labels": "map[string]string | Map of string keys and values that can be used to "
                  "organize and categorize objects.",
        "annotations": "map[string]string | Unstructured key value map stored with a resource.",
        "ownerReferences": "[]OwnerReference merge=uid | Objects depended on by this object.",
        "finalizers": "[]string merge | Must be empty before the object is deleted from the "
                      "registry.",
        "managedFields": "[]object | Field ownership information (server-side apply).",
    },
    "OwnerReference": {
        "apiVersion": "string | API version of the referent.",
        "kind": "string | Kind of the referent.",
        "name": "string | Name of the referent.",
        "uid": "string | UID of the referent.",
        "controller": "boolean | If true, this reference points to the managing controller.",
        "blockOwnerDeletion": "boolean | If true, the owner cannot be deleted before this "
                              "object.",
    },
    "ListMeta": {
        "resourceVersion": "string | The version of the list, for watches.",
        "continue": "string | Set when more results are available.",
        "remainingItemCount": "int64 | Number of items left after this list.",
        "selfLink": "string | Deprecated.",
        "shardInfo": "object | Sharding of the list.",
    },
    "LabelSelector": {
        "matchLabels": "map[string]string | Exact label matches.",
        "matchExpressions": "[]object | Label selector requirements.",
    },
    # ----------------------------------------------------------------- pod
    "Pod": {"metadata": "ObjectMeta | Standard object's metadata.",
            "spec": "PodSpec | Specification of the desired behavior of the pod.",
            "status": "PodStatus | Most recently observed status of the pod."},
    "PodSpec": {
        "volumes": "[]Volume merge=name retainKeys | List of volumes that can be mounted by "
                   "containers belonging to the pod.",
        "initContainers": "[]Container merge=name | Containers run in order before the app "
                          "containers.",
        "containers": "[]Container merge=name | List of containers belonging to the pod.",
        "ephemeralContainers": "[]object | Ephemeral debugging containers.",
        "restartPolicy": "string | Restart policy for all containers: Always, OnFailure, Never.",
        "terminationGracePeriodSeconds": "int64 | Seconds the pod needs to terminate "
                                         "gracefully.",
        "activeDeadlineSeconds": "int64 | Seconds the pod may be active before it is failed.",
        "dnsPolicy": "string | DNS policy: ClusterFirst, ClusterFirstWithHostNet, Default or "
                     "None.",
        "dnsConfig": "object | DNS parameters of the pod.",
        "nodeSelector": "map[string]string | Labels a node must have to run the pod.",
        "serviceAccountName": "string | Name of the ServiceAccount used to run this pod.",
        "serviceAccount": "string | Deprecated alias for serviceAccountName.",
        "automountServiceAccountToken": "boolean | Whether a service account token is mounted.",
        "nodeName": "string | The node the pod is scheduled onto.",
        "hostNetwork": "boolean | Use the host's network namespace.",
        "hostPID": "boolean | Use the host's pid namespace.",
        "hostIPC": "boolean | Use the host's ipc namespace.",
        "shareProcessNamespace": "boolean | Share a single process namespace between "
                                 "containers.",
        "securityContext": "object | Pod-level security attributes.",
        "imagePullSecrets": "[]LocalObjectReference merge=name | Secrets for pulling images.",
        "hostname": "string | The pod's hostname.",
        "subdomain": "string | The pod's subdomain.",
        "affinity": "object | Scheduling constraints.",
        "schedulerName": "string | The scheduler that dispatches this pod.",
        "tolerations": "[]Toleration | The pod's tolerations.",
        "hostAliases": "[]object merge=ip | Entries added to the pod's hosts file.",
        "priorityClassName": "string | Priority class of the pod.",
        "priority": "integer | Priority value.",
        "readinessGates": "[]object | Extra conditions for pod readiness.",
        "runtimeClassName": "string | RuntimeClass used to run this pod.",
        "enableServiceLinks": "boolean | Inject service environment variables.",
        "preemptionPolicy": "string | Preemption policy.",
        "overhead": "map[string]Quantity | Resource overhead of the pod sandbox.",
        "topologySpreadConstraints": "[]object merge=topologyKey | Spread constraints.",
        "setHostnameAsFQDN": "boolean | Use the FQDN as hostname.",
        "os": "object | The pod's operating system.",
        "hostUsers": "boolean | Use the host's user namespace.",
        "schedulingGates": "[]object merge=name | Gates that block scheduling.",
        "resourceClaims": "[]object merge=name | Resource claims.",
        "resources": "ResourceRequirements | Total resources of the pod (pod-level "
                     "resources).",
        "hostnameOverride": "string | Hostname of the pod, overriding the generated one.",
        "schedulingGroup": "object | Group the pod is scheduled with.",
        "evictionResponders": "[]object | Responders to eviction requests.",
    },
    "Container": {
        "name": "string | Name of the container, a DNS_LABEL, unique in the pod.",
        "image": "string | Container image name.",
        "command": "[]string | Entrypoint array, not run in a shell.",
        "args": "[]string | Arguments to the entrypoint.",
        "workingDir": "string | Container's working directory.",
        "ports": "[]ContainerPort merge=containerPort | Ports to expose from the container.",
        "envFrom": "[]EnvFromSource | Sources to populate environment variables.",
        "env": "[]EnvVar merge=name | Environment variables to set in the container.",
        "resources": "ResourceRequirements | Compute resources required by this container.",
        "resizePolicy": "[]object | Resize policy.",
        "restartPolicy": "string | Restart policy (init containers only).",
        "restartPolicyRules": "[]object | Rules overriding restartPolicy on exit codes.",
        "volumeMounts": "[]VolumeMount merge=mountPath | Volumes to mount into the container.",
        "volumeDevices": "[]object merge=devicePath | Block devices used by the container.",
        "livenessProbe": "Probe | Periodic probe of container liveness; the container is "
                         "restarted if it fails.",
        "readinessProbe": "Probe | Periodic probe of container service readiness.",
        "startupProbe": "Probe | Probe that must succeed before the other probes start.",
        "lifecycle": "object | Actions taken in response to container lifecycle events.",
        "terminationMessagePath": "string | File the termination message is written to.",
        "terminationMessagePolicy": "string | File or FallbackToLogsOnError.",
        "imagePullPolicy": "string | Always, Never or IfNotPresent.",
        "securityContext": "object | Security options the container runs with.",
        "stdin": "boolean | Allocate a buffer for stdin.",
        "stdinOnce": "boolean | Close stdin after the first attach.",
        "tty": "boolean | Allocate a TTY.",
    },
    "ContainerPort": {
        "name": "string | An IANA_SVC_NAME, unique within the pod.",
        "hostPort": "integer | Port number to expose on the host.",
        "containerPort": "integer | Port number to expose on the pod's IP address.",
        "protocol": "string | UDP, TCP or SCTP. Defaults to TCP.",
        "hostIP": "string | Host IP to bind the external port to.",
    },
    "EnvVar": {
        "name": "string | Name of the environment variable.",
        "value": "string | Value of the variable.",
        "valueFrom": "EnvVarSource | Source for the variable's value.",
    },
    "EnvVarSource": {
        "fieldRef": "ObjectFieldSelector | A field of the pod.",
        "resourceFieldRef": "object | A resource of the container.",
        "configMapKeyRef": "ConfigMapKeySelector | A key of a ConfigMap.",
        "secretKeyRef": "SecretKeySelector | A key of a secret in the pod's namespace.",
        "fileKeyRef": "object | A key of an env file in a volume.",
    },
    "ConfigMapKeySelector": {
        "name": "string | Name of the ConfigMap.",
        "key": "string | The key to select.",
        "optional": "boolean | Whether the ConfigMap or its key must be defined.",
    },
    "SecretKeySelector": {
        "name": "string | Name of the Secret.",
        "key": "string | The key of the secret to select from.",
        "optional": "boolean | Whether the Secret or its key must be defined.",
    },
    "EnvFromSource": {
        "prefix": "string | A C_IDENTIFIER to prepend to each key.",
        "configMapRef": "ConfigMapEnvSource | The ConfigMap to select from.",
        "secretRef": "SecretEnvSource | The Secret to select from.",
    },
    "ConfigMapEnvSource": {"name": "string | Name of the ConfigMap.",
                           "optional": "boolean | Whether the ConfigMap must be defined."},
    "SecretEnvSource": {"name": "string | Name of the Secret.",
                        "optional": "boolean | Whether the Secret must be defined."},
    "ObjectFieldSelector": {
        "apiVersion": "string | Version of the schema the FieldPath is written in.",
        "fieldPath": "string | Path of the field to select.",
    },
    "ResourceRequirements": {
        "limits": "map[string]Quantity | Maximum amount of compute resources allowed.",
        "requests": "map[string]Quantity | Minimum amount of compute resources required.",
        "claims": "[]object | Dynamic resource claims.",
    },
    "VolumeMount": {
        "name": "string | Must match the name of a volume.",
        "mountPath": "string | Path within the container at which to mount the volume.",
        "subPath": "string | Path within the volume to mount.",
        "subPathExpr": "string | Expanded path within the volume.",
        "readOnly": "boolean | Mounted read-only if true.",
        "mountPropagation": "string | Mount propagation mode.",
        "recursiveReadOnly": "string | Recursive read-only mode.",
        "bindMountOptions": "[]string | Extra bind mount options.",
    },
    "Probe": {
        "exec": "ExecAction | Exec specifies the action to take.",
        "httpGet": "HTTPGetAction | HTTPGet specifies the http request to perform.",
        "tcpSocket": "TCPSocketAction | TCPSocket specifies a connection to a TCP port.",
        "grpc": "object | GRPC specifies a gRPC health check.",
        "initialDelaySeconds": "integer | Seconds after the container has started before "
                               "probes are initiated.",
        "timeoutSeconds": "integer | Seconds after which the probe times out. Defaults to 1.",
        "periodSeconds": "integer | How often (in seconds) to perform the probe. Defaults to "
                         "10.",
        "successThreshold": "integer | Minimum consecutive successes to be considered "
                            "successful.",
        "failureThreshold": "integer | Consecutive failures before giving up. Defaults to 3.",
        "terminationGracePeriodSeconds": "int64 | Grace period when the probe fails.",
    },
    "HTTPGetAction": {
        "path": "string | Path to access on the HTTP server.",
        "port": "IntOrString | Name or number of the port to access on the container.",
        "host": "string | Host name to connect to, defaults to the pod IP.",
        "scheme": "string | Scheme to use for connecting to the host. Defaults to HTTP.",
        "httpHeaders": "[]object | Custom headers to set in the request.",
        "protocol": "string | HTTP protocol version.",
    },
    "TCPSocketAction": {
        "port": "IntOrString | Number or name of the port to access on the container.",
        "host": "string | Host name to connect to, defaults to the pod IP.",
    },
    "ExecAction": {"command": "[]string | Command line to execute inside the container."},
    "Volume": {
        "name": "string | Volume's name, a DNS_LABEL unique within the pod.",
        "hostPath": "HostPathVolumeSource | A file or directory on the host.",
        "emptyDir": "EmptyDirVolumeSource | A temporary directory that shares a pod's "
                    "lifetime.",
        "secret": "SecretVolumeSource | A secret that should populate this volume.",
        "configMap": "ConfigMapVolumeSource | A configMap that should populate this volume.",
        "persistentVolumeClaim": "object | A PersistentVolumeClaim in the same namespace.",
        "downwardAPI": "object | Downward API about the pod.",
        "projected": "ProjectedVolumeSource | Projected items for all in one resources.",
        "nfs": "object | An NFS mount on the host.",
        "gitRepo": "object | Deprecated: a git repository at a particular revision.",
        "ephemeral": "object | A volume handled by a cluster storage driver.",
        "csi": "object | Ephemeral storage handled by CSI drivers.",
        "image": "object | An OCI image or artifact mounted read-only.",
    }
    # Cloud and network volume types minikube8s cannot mount: known, so never pruned.
    | {f: f"object | {d} volume (not supported by minikube8s)." for f, d in (
        ("awsElasticBlockStore", "AWS EBS"), ("azureDisk", "Azure Data Disk"),
        ("azureFile", "Azure File Service"), ("cephfs", "CephFS"), ("cinder", "Cinder"),
        ("fc", "Fibre Channel"), ("flexVolume", "FlexVolume"), ("flocker", "Flocker"),
        ("gcePersistentDisk", "GCE Persistent Disk"), ("glusterfs", "GlusterFS"),
        ("iscsi", "iSCSI"), ("photonPersistentDisk", "Photon Controller"),
        ("portworxVolume", "Portworx"), ("quobyte", "Quobyte"), ("rbd", "Rados Block Device"),
        ("scaleIO", "ScaleIO"), ("storageos", "StorageOS"),
        ("vsphereVolume", "vSphere"))},
    "HostPathVolumeSource": {
        "path": "string | Path of the directory on the host.",
        "type": "string | Type for HostPath volume.",
    },
    "EmptyDirVolumeSource": {
        "medium": "string | Storage medium: \"\" or Memory.",
        "sizeLimit": "Quantity | Total amount of local storage required.",
        "mode": "integer | Mode bits of the directory.",
    },
    "SecretVolumeSource": {
        "secretName": "string | Name of the secret in the pod's namespace.",
        "items": "[]KeyToPath | Keys to project.",
        "defaultMode": "integer | Mode bits for created files.",
        "optional": "boolean | Whether the secret must exist.",
        "defaultUser": "int64 | Owner of the created files.",
    },
    "ConfigMapVolumeSource": {
        "name": "string | Name of the ConfigMap in the pod's namespace.",
        "items": "[]KeyToPath | Keys to project.",
        "defaultMode": "integer | Mode bits for created files.",
        "optional": "boolean | Whether the ConfigMap must exist.",
        "defaultUser": "int64 | Owner of the created files.",
    },
    "KeyToPath": {
        "key": "string | The key to project.",
        "path": "string | The relative path of the file to map the key to.",
        "mode": "integer | Mode bits for this file.",
        "user": "int64 | Owner of this file.",
    },
    "ProjectedVolumeSource": {
        "sources": "[]VolumeProjection | Volume projections.",
        "defaultMode": "integer | Mode bits for created files.",
        "defaultUser": "int64 | Owner of the created files.",
    },
    "VolumeProjection": {
        "secret": "SecretProjection | A secret to project.",
        "configMap": "ConfigMapProjection | A configMap to project.",
        "downwardAPI": "object | Downward API data to project.",
        "serviceAccountToken": "object | A service account token to project.",
        "clusterTrustBundle": "object | ClusterTrustBundle objects to project.",
        "podCertificate": "object | A pod certificate to project.",
    },
    "SecretProjection": {
        "name": "string | Name of the Secret.",
        "items": "[]KeyToPath | Keys to project.",
        "optional": "boolean | Whether the Secret or its keys must be defined.",
    },
    "ConfigMapProjection": {
        "name": "string | Name of the ConfigMap.",
        "items": "[]KeyToPath | Keys to project.",
        "optional": "boolean | Whether the ConfigMap or its keys must be defined.",
    },
    "LocalObjectReference": {"name": "string | Name of the referent."},
    "Toleration": {
        "key": "string | Taint key that the toleration applies to.",
        "operator": "string | Exists or Equal.",
        "value": "string | Taint value the toleration matches to.",
        "effect": "string | Taint effect to match.",
        "tolerationSeconds": "int64 | How long the pod tolerates a NoExecute taint.",
    },
    "PodStatus": {
        "phase": "string | Pending, Running, Succeeded, Failed or Unknown.",
        "conditions": "[]PodCondition merge=type | Current service state of pod.",
        "message": "string | Why the pod is in this condition.",
        "reason": "string | Brief CamelCase reason.",
        "nominatedNodeName": "string | Node nominated by preemption.",
        "hostIP": "string | IP address of the host the pod is assigned to.",
        "hostIPs": "[]object | IP addresses of the host.",
        "podIP": "string | IP address allocated to the pod.",
        "podIPs": "[]object merge=ip | IP addresses allocated to the pod.",
        "startTime": "Time | When the pod was acknowledged by the kubelet.",
        "initContainerStatuses": "[]ContainerStatus | Statuses of init containers.",
        "containerStatuses": "[]ContainerStatus | Statuses of the containers.",
        "ephemeralContainerStatuses": "[]object | Statuses of ephemeral containers.",
        "qosClass": "string | Quality of Service class.",
        "resize": "string | Status of a resize.",
        "resourceClaimStatuses": "[]object | Status of resource claims.",
        "observedGeneration": "int64 | Generation observed by the kubelet.",
        "allocatedResources": "map[string]Quantity | Resources allocated to the pod.",
        "resources": "ResourceRequirements | Resources applied to the pod.",
        "extendedResourceClaimStatus": "object | Status of extended resource claims.",
        "nodeAllocatableResourceClaimStatuses": "[]object | Node-allocatable claim status.",
        "volumeHealth": "[]object | Health of the pod's volumes.",
    },
    "PodCondition": {
        "type": "string | Type of the condition.",
        "status": "string | True, False or Unknown.",
        "lastProbeTime": "Time | Last time the condition was probed.",
        "lastTransitionTime": "Time | Last time the condition transitioned.",
        "reason": "string | Reason for the last transition.",
        "message": "string | Details about the last transition.",
        "observedGeneration": "int64 | Generation observed.",
    },
    "ContainerStatus": {
        "name": "string | Name of the container.",
        "state": "object | Current state of the container.",
        "lastState": "object | Previous state of the container.",
        "ready": "boolean | Whether the container passes its readiness probe.",
        "restartCount": "integer | Times the container has been restarted.",
        "image": "string | The image the container is running.",
        "imageID": "string | Image ID of the container's image.",
        "containerID": "string | Container ID: <type>://<id>.",
        "started": "boolean | Whether the container has passed its startup probe.",
        "allocatedResources": "map[string]Quantity | Allocated resources.",
        "resources": "ResourceRequirements | Resources applied to the running container.",
        "volumeMounts": "[]object | Mounts status.",
        "user": "object | User identity.",
        "allocatedResourcesStatus": "[]object | Resource health.",
        "stopSignal": "string | Stop signal.",
    },
    "PodTemplateSpec": {"metadata": "ObjectMeta | Standard object's metadata.",
                        "spec": "PodSpec | Specification of the desired behavior of the pod."},
    # ----------------------------------------------------------------- replication controller
    "ReplicationController": {
        "metadata": "ObjectMeta | Standard object's metadata.",
        "spec": "ReplicationControllerSpec | Desired behavior of the replication controller.",
        "status": "ReplicationControllerStatus | Most recently observed status.",
    },
    "ReplicationControllerSpec": {
        "replicas": "integer | Number of desired replicas. Defaults to 1.",
        "minReadySeconds": "integer | Seconds a new pod must be ready to count as available.",
        "selector": "map[string]string | Label query over pods that should match the "
                    "replicas count.",
        "template": "PodTemplateSpec | Object that describes the pod created when replicas "
                    "are missing.",
    },
    "ReplicationControllerStatus": {
        "replicas": "integer | Most recently observed number of replicas.",
        "fullyLabeledReplicas": "integer | Replicas whose labels match the template's.",
        "readyReplicas": "integer | Number of ready replicas.",
        "availableReplicas": "integer | Number of available replicas.",
        "observedGeneration": "int64 | Generation observed by the controller.",
        "conditions": "[]ReplicationControllerCondition merge=type | Latest observations.",
    },
    "ReplicationControllerCondition": {
        "type": "string | Type of the condition.",
        "status": "string | True, False or Unknown.",
        "lastTransitionTime": "Time | Last time the condition transitioned.",
        "reason": "string | Reason for the last transition.",
        "message": "string | Details about the last transition.",
    },
    # ----------------------------------------------------------------- service
    "Service": {"metadata": "ObjectMeta | Standard object's metadata.",
                "spec": "ServiceSpec | Behavior of a service.",
                "status": "ServiceStatus | Most recently observed status of the service."},
    "ServiceSpec": {
        "ports": "[]ServicePort merge=port | Ports exposed by this service.",
        "selector": "map[string]string | Route traffic to pods with labels matching this "
                    "selector.",
        "clusterIP": "string | IP address of the service (the portal IP), usually assigned "
                     "by the master.",
        "clusterIPs": "[]string | IP addresses assigned to this service.",
        "type": "string | ClusterIP, NodePort, LoadBalancer or ExternalName.",
        "externalIPs": "[]string | IPs for which nodes also accept traffic for this service.",
        "sessionAffinity": "string | ClientIP or None.",
        "loadBalancerIP": "string | Deprecated.",
        "loadBalancerSourceRanges": "[]string | Client IP ranges allowed.",
        "externalName": "string | DNS name this service aliases (type ExternalName).",
        "externalTrafficPolicy": "string | Cluster or Local.",
        "healthCheckNodePort": "integer | Health check node port.",
        "publishNotReadyAddresses": "boolean | Publish endpoints of unready pods.",
        "sessionAffinityConfig": "object | Configurations of session affinity.",
        "ipFamilies": "[]string | IP families assigned to this service.",
        "ipFamilyPolicy": "string | SingleStack, PreferDualStack or RequireDualStack.",
        "allocateLoadBalancerNodePorts": "boolean | Allocate node ports for LoadBalancers.",
        "loadBalancerClass": "string | Load balancer implementation.",
        "internalTrafficPolicy": "string | Cluster or Local.",
        "trafficDistribution": "string | Traffic distribution preference.",
    },
    "ServicePort": {
        "name": "string | Name of this port, a DNS_LABEL unique within the service.",
        "protocol": "string | TCP, UDP or SCTP. Default is TCP.",
        "appProtocol": "string | Application protocol.",
        "port": "integer | The port exposed by this service.",
        "targetPort": "IntOrString | Number or name of the port on the pods. Defaults to port.",
        "nodePort": "integer | Port on each node (NodePort, LoadBalancer).",
    },
    "ServiceStatus": {"loadBalancer": "object | Status of the load-balancer, if one is present.",
                      "conditions": "[]object merge=type | Current service state."},
    # ----------------------------------------------------------------- endpoints
    "Endpoints": {"metadata": "ObjectMeta | Standard object's metadata.",
                  "subsets": "[]EndpointSubset | Sets of addresses and ports of the service."},
    "EndpointSubset": {
        "addresses": "[]EndpointAddress | Ready addresses.",
        "notReadyAddresses": "[]EndpointAddress | Addresses not ready yet.",
        "ports": "[]EndpointPort | Port numbers available on the addresses.",
    },
    "EndpointAddress": {
        "ip": "string | The IP of this endpoint.",
        "hostname": "string | The hostname of this endpoint.",
        "nodeName": "string | Node hosting this endpoint.",
        "targetRef": "ObjectReference | Reference to the object providing the endpoint.",
    },
    "EndpointPort": {
        "name": "string | Name of this port, matching the ServicePort's.",
        "port": "integer | The port number of the endpoint.",
        "protocol": "string | TCP, UDP or SCTP.",
        "appProtocol": "string | Application protocol.",
    },
    "ObjectReference": {
        "kind": "string | Kind of the referent.",
        "namespace": "string | Namespace of the referent.",
        "name": "string | Name of the referent.",
        "uid": "string | UID of the referent.",
        "apiVersion": "string | API version of the referent.",
        "resourceVersion": "string | Specific resourceVersion of the referent.",
        "fieldPath": "string | A piece of the object, such as spec.containers{name}.",
    },
    # ----------------------------------------------------------------- node
    "Node": {"metadata": "ObjectMeta | Standard object's metadata.",
             "spec": "NodeSpec | Behavior of a node.",
             "status": "NodeStatus | Most recently observed status of the node."},
    "NodeSpec": {
        "podCIDR": "string | Pod IP range assigned to the node.",
        "podCIDRs": "[]string merge | Pod IP ranges assigned to the node.",
        "providerID": "string | ID of the node assigned by the cloud provider.",
        "externalID": "string | Deprecated.",
        "unschedulable": "boolean | Controls node schedulability of new pods.",
        "taints": "[]Taint | The node's taints.",
        "configSource": "object | Deprecated.",
        "podPreemptionPolicy": "object | Preemption policy of pods on the node.",
    },
    "Taint": {
        "key": "string | The taint key.",
        "value": "string | The taint value.",
        "effect": "string | NoSchedule, PreferNoSchedule or NoExecute.",
        "timeAdded": "Time | When the taint was added.",
    },
    "NodeStatus": {
        "capacity": "map[string]Quantity | Total resources of the node.",
        "allocatable": "map[string]Quantity | Resources available for scheduling.",
        "phase": "string | Deprecated.",
        "conditions": "[]NodeCondition merge=type | Current service state of the node.",
        "addresses": "[]NodeAddress merge=type | Addresses reachable to the node.",
        "daemonEndpoints": "object | Endpoints of daemons running on the node.",
        "nodeInfo": "NodeSystemInfo | General information about the node.",
        "images": "[]object | Container images on the node.",
        "volumesInUse": "[]string | Attachable volumes in use.",
        "volumesAttached": "[]object | Volumes attached to the node.",
        "config": "object | Dynamic kubelet config status.",
        "runtimeHandlers": "[]object | Available runtime handlers.",
        "features": "object | Supported features.",
        "declaredFeatures": "[]string | Features declared by the node.",
    },
    "NodeCondition": {
        "type": "string | Type of node condition.",
        "status": "string | True, False or Unknown.",
        "lastHeartbeatTime": "Time | Last time the condition was probed.",
        "lastTransitionTime": "Time | Last time the condition transitioned.",
        "reason": "string | Reason for the last transition.",
        "message": "string | Details about the last transition.",
    },
    "NodeAddress": {"type": "string | Hostname, ExternalIP or InternalIP.",
                    "address": "string | The node address."},
    "NodeSystemInfo": {f: f"string | {d}" for f, d in (
        ("machineID", "Machine ID."), ("systemUUID", "System UUID."), ("bootID", "Boot ID."),
        ("kernelVersion", "Kernel version."), ("osImage", "OS image."),
        ("containerRuntimeVersion", "Container runtime version."),
        ("kubeletVersion", "Kubelet version."), ("kubeProxyVersion", "Kube-proxy version."),
        ("operatingSystem", "Operating system."), ("architecture", "Architecture."))}
    | {"swap": "object | Swap information.",
       "runningInUserNamespace": "boolean | Whether the node runs in a user namespace."},
    # ----------------------------------------------------------------- namespace
    "Namespace": {"metadata": "ObjectMeta | Standard object's metadata.",
                  "spec": "NamespaceSpec | Behavior of the Namespace.",
                  "status": "NamespaceStatus | Status of the Namespace."},
    "NamespaceSpec": {"finalizers": "[]string | Must be empty before the namespace is removed."},
    "NamespaceStatus": {"phase": "string | Active or Terminating.",
                        "conditions": "[]object merge=type | Latest observations."},
    # ----------------------------------------------------------------- event
    "Event": {
        "metadata": "ObjectMeta | Standard object's metadata.",
        "involvedObject": "ObjectReference | The object this event is about.",
        "reason": "string | Short, machine understandable reason for the transition.",
        "message": "string | Human-readable description of the status of this operation.",
        "source": "EventSource | The component reporting this event.",
        "firstTimestamp": "Time | First time the event was recorded.",
        "lastTimestamp": "Time | Most recent time the event occurred.",
        "count": "integer | Number of times this event has occurred.",
        "type": "string | Normal or Warning.",
        "eventTime": "Time | When this event was first observed (MicroTime).",
        "series": "object | Data about the event series.",
        "action": "string | Action taken against the object.",
        "related": "ObjectReference | Optional secondary object.",
        "reportingComponent": "string | Controller that emitted the event.",
        "reportingInstance": "string | ID of the controller instance.",
    },
    "EventSource": {"component": "string | Component from which the event is generated.",
                    "host": "string | Node name on which the event is generated."},
    # ----------------------------------------------------------------- limits and quota
    "LimitRange": {"metadata": "ObjectMeta | Standard object's metadata.",
                   "spec": "LimitRangeSpec | Limits enforced."},
    "LimitRangeSpec": {"limits": "[]LimitRangeItem | Limits enforced."},
    "LimitRangeItem": {
        "type": "string | Pod, Container or PersistentVolumeClaim.",
        "max": "map[string]Quantity | Maximum usage on this kind by resource name.",
        "min": "map[string]Quantity | Minimum usage on this kind by resource name.",
        "default": "map[string]Quantity | Default limit when omitted.",
        "defaultRequest": "map[string]Quantity | Default request when omitted.",
        "maxLimitRequestRatio": "map[string]Quantity | Maximum limit/request ratio.",
    },
    "ResourceQuota": {"metadata": "ObjectMeta | Standard object's metadata.",
                      "spec": "ResourceQuotaSpec | Desired quota.",
                      "status": "ResourceQuotaStatus | Actual enforced quota and its usage."},
    "ResourceQuotaSpec": {"hard": "map[string]Quantity | Hard limits per named resource.",
                          "scopes": "[]string | Filters on tracked objects.",
                          "scopeSelector": "object | Scope selector."},
    "ResourceQuotaStatus": {"hard": "map[string]Quantity | Enforced hard limits.",
                            "used": "map[string]Quantity | Current observed usage."},
    # ----------------------------------------------------------------- configuration
    "ConfigMap": {
        "metadata": "ObjectMeta | Standard object's metadata.",
        "data": "map[string]string | Configuration data: keys must consist of alphanumeric "
                "characters, '-', '_' or '.'.",
        "binaryData": "map[string]bytes | Binary data (base64 in JSON); keys must not overlap "
                      "those of data.",
        "immutable": "boolean | If true, data and binaryData cannot be updated (only the "
                     "object's metadata can).",
    },
    "Secret": {
        "metadata": "ObjectMeta | Standard object's metadata.",
        "data": "map[string]bytes | Secret data (base64 in JSON); keys must consist of "
                "alphanumeric characters, '-', '_' or '.'.",
        "stringData": "map[string]string | Write-only convenience: plain-text values merged "
                      "into data on write, never read back.",
        "type": "string | Used to facilitate programmatic handling of secret data (Opaque by "
                "default).",
        "immutable": "boolean | If true, data cannot be updated (only the object's metadata "
                     "can).",
    },
    # ----------------------------------------------------------------- binding, lease, scale
    "Binding": {"metadata": "ObjectMeta | Standard object's metadata.",
                "target": "ObjectReference | The node to bind to."},
    "Lease": {"metadata": "ObjectMeta | Standard object's metadata.",
              "spec": "LeaseSpec | Specification of the Lease."},
    "LeaseSpec": {
        "holderIdentity": "string | Identity of the holder of the lease.",
        "leaseDurationSeconds": "integer | Seconds candidates wait to force acquire it.",
        "acquireTime": "Time | When the current lease was acquired (MicroTime).",
        "renewTime": "Time | When the holder last renewed the lease (MicroTime).",
        "leaseTransitions": "integer | Transitions of the lease between holders.",
        "strategy": "string | Coordinated leader election strategy.",
        "preferredHolder": "string | Preferred holder.",
    },
    "Scale": {"metadata": "ObjectMeta | Standard object's metadata.",
              "spec": "ScaleSpec | Desired behavior of the scale.",
              "status": "ScaleStatus | Current status of the scale."},
    "ScaleSpec": {"replicas": "integer | Desired number of instances."},
    "ScaleStatus": {"replicas": "integer | Actual number of observed instances.",
                    "selector": "string | Label query over pods, as a string."},
    # ----------------------------------------------------------------- status
    "Status": {
        "metadata": "ListMeta | Standard list metadata.",
        "status": "string | Success or Failure.",
        "message": "string | Human-readable description.",
        "reason": "string | Machine-readable description.",
        "details": "object | Extended data associated with the reason.",
        "code": "integer | Suggested HTTP return code.",
    },
    "DeleteOptions": {
        "gracePeriodSeconds": "int64 | Seconds before the object should be deleted.",
        "preconditions": "object | Must be fulfilled before a deletion is carried out.",
        "orphanDependents": "boolean | Deprecated.",
        "propagationPolicy": "string | Orphan, Background or Foreground.",
        "dryRun": "[]string | All or empty.",
        "ignoreStoreReadErrorWithClusterBreakingPotential": "boolean | Unsafe deletion.",
    },
}

# Top-level kinds: type name -> (group, version, OpenAPI namespace).
KINDS: dict[str, tuple[str, str, str]] = {
    k: ("", "v1", CORE) for k in ("Pod", "ReplicationController", "Service", "Endpoints",
                                  "Node", "Namespace", "Event", "LimitRange", "ResourceQuota",
                                  "Binding", "ConfigMap", "Secret")
} | {"Lease": ("coordination.k8s.io", "v1", "io.k8s.api.coordination.v1."),
     "Scale": ("autoscaling", "v1", "io.k8s.api.autoscaling.v1."),
     "Status": ("", "v1", META), "DeleteOptions": ("", "v1", META)}
TYPE_NS = {"ObjectMeta": META, "OwnerReference": META, "ListMeta": META,
            "LabelSelector": META, "LeaseSpec": "io.k8s.api.coordination.v1.",
            "ScaleSpec": "io.k8s.api.autoscaling.v1.", "ScaleStatus": "io.k8s.api.autoscaling.v1."}
LIST_KINDS = ("Pod", "ReplicationController", "Service", "Endpoints", "Node", "Namespace",
               "Event", "LimitRange", "ResourceQuota", "Lease", "ConfigMap", "Secret")
DESCRIPTIONS = {
    "Pod": "Pod is a collection of containers that can run on a host.",
    "ReplicationController": "ReplicationController represents the configuration of a "
                             "replication controller.",
    "Service": "Service is a named abstraction of software service (for example, mysql) "
               "consisting of local port (for example 3306) that the proxy listens on, and the "
               "selector that determines which pods will answer requests sent through the "
               "proxy.",
    "Endpoints": "Endpoints is a collection of endpoints that implement the actual service.",
    "Node": "Node is a worker node in Kubernetes.",
    "Namespace": "Namespace provides a scope for Names.",
    "Event": "Event is a report of an event somewhere in the cluster.",
    "LimitRange": "LimitRange sets resource usage limits for each kind of resource in a "
                  "Namespace.",
    "ResourceQuota": "ResourceQuota sets aggregate quota restrictions enforced per namespace.",
    "Binding": "Binding ties one object to another; for example, a pod is bound to a node by "
               "a scheduler.",
    "Lease": "Lease defines a lease concept.",
    "ConfigMap": "ConfigMap holds configuration data for pods to consume.",
    "Secret": "Secret holds secret data of a certain type. The total bytes of the values in the "
              "Data field must be less than MaxSecretSize bytes.",
    "Scale": "Scale represents a scaling request for a resource.",
    "PodSpec": "PodSpec is a description of a pod.",
    "Container": "A single application container that you want to run within a pod.",
    "Probe": "Probe describes a health check to be performed against a container to "
             "determine whether it is alive or ready to receive traffic.",
    "ObjectMeta": "ObjectMeta is metadata that all persisted resources must have.",
}
