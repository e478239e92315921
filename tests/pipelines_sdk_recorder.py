"""Run an emitted Kubeflow SDK submit() with the real `kubeflow` SDK whose Kubernetes API is a recorder.

Runs in .venv-pipelines (kubeflow 0.5 pins kubernetes/protobuf versions the main venv does not hold):
    python tests/pipelines_sdk_recorder.py SDK_CODE.py RUNTIME.yaml NAMESPACE OUT.json
Everything in the SDK runs (TrainerClient.train, the KubernetesBackend's runtime lookup and parsing, options,
TrainJob model building and serialisation) except the HTTP calls: CustomObjectsApi is replaced by a recorder that
serves the given ClusterTrainingRuntime and records the object passed to create_namespaced_custom_object.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import yaml
from kubeflow.trainer import TrainerClient
from kubeflow.trainer.backends.kubernetes.backend import KubernetesBackend
from kubernetes.client import ApiException


class _Done:
    def __init__(self, value):
        self.value = value

    def get(self, timeout=None):
        return self.value


class RecordingCustomObjectsApi:
    def __init__(self, runtime: dict):
        self.runtime = runtime
        self.created: list[dict] = []

    def get_namespaced_custom_object(self, group, version, namespace, plural, name, async_req=False):
        raise ApiException(status=404, reason="Not Found")  # no namespaced TrainingRuntime: cluster scope next

    def get_cluster_custom_object(self, group, version, plural, name, async_req=False):
        assert (group, version, plural) == ("trainer.kubeflow.org", "v1alpha1", "clustertrainingruntimes")
        if name != self.runtime["metadata"]["name"]:
            raise ApiException(status=404, reason="Not Found")
        return _Done(self.runtime)

    def create_namespaced_custom_object(self, group, version, namespace, plural, body, **kwargs):
        self.created.append({"group": group, "version": version, "namespace": namespace, "plural": plural,
                             "body": body})
        return body


def main(code_path: str, runtime_path: str, namespace: str, out_path: str) -> None:
    runtime = yaml.safe_load(Path(runtime_path).read_text())
    backend = KubernetesBackend.__new__(KubernetesBackend)  # no kubeconfig, no control-plane probe
    backend.custom_api = RecordingCustomObjectsApi(runtime)
    backend.core_api = None
    backend.namespace = namespace
    client = TrainerClient.__new__(TrainerClient)
    client.backend = backend
    module = types.ModuleType("emitted_sdk_call")
    exec(compile(Path(code_path).read_text(), code_path, "exec"), module.__dict__)
    name = module.submit(client)
    [record] = backend.custom_api.created
    Path(out_path).write_text(json.dumps({"returned_name": name, **record}, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:5])
