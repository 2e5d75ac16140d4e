"""Systems Manager answers of the world model's second pass (docs/aws-facts.md#world-model-second-pass).

- ``CancelCommand``: moto accepts it and changes nothing. Here each invocation of the
  command (or of the ``InstanceIds`` given) is cancelled in the lab clock's time
  (``commands.Invocation.cancel``): ``Cancelling``, then ``Cancelled``, from botocore's
  ``CommandStatus``/``CommandInvocationStatus`` enums. The response is empty, as the AWS
  CLI's example says ("This command produces no output").
- ``DescribeDocument`` / ``GetDocument`` of ``AWS-RunShellScript``: moto ships no AWS-owned
  document and answers ``InvalidDocument``. Here the document AWS owns, with the content
  the AWS CLI's own example prints (awscli/examples/ssm/get-document.rst).
"""

from __future__ import annotations

import hashlib
import json

from . import _moto, clock, ssm_api
from ._moto import ActionResult, SimpleSystemManagerResponse, wrap_methods

#: AWS-RunShellScript's content as GetDocument returns it (awscli/examples/ssm/get-document.rst;
#: the same document in the SSM User Guide, "Command document plugin reference").
RUN_SHELL_SCRIPT = {
    "schemaVersion": "1.2",
    "description": "Run a shell script or specify the commands to run.",
    "parameters": {
        "commands": {
            "type": "StringList",
            "description": "(Required) Specify a shell script or a command to run.",
            "minItems": 1,
            "displayType": "textarea",
        },
        "workingDirectory": {
            "type": "String",
            "default": "",
            "description": "(Optional) The path to the working directory on your instance.",
            "maxChars": 4096,
        },
        "executionTimeout": {
            "type": "String",
            "default": "3600",
            "description": "(Optional) The time in seconds for a command to complete before it is considered "
            "to have failed. Default is 3600 (1 hour). Maximum is 172800 (48 hours).",
            "allowedPattern": "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)",
        },
    },
    "runtimeConfig": {
        "aws:runShellScript": {
            "properties": [
                {
                    "id": "0.aws:runShellScript",
                    "runCommand": "{{ commands }}",
                    "workingDirectory": "{{ workingDirectory }}",
                    "timeoutSeconds": "{{ executionTimeout }}",
                }
            ]
        }
    },
}
#: AWS-owned documents the lab can describe: name -> (content, platform types). The
#: aws:runShellScript plugin runs on Linux and macOS (SSM User Guide, "Command document
#: plugin reference").
AWS_DOCUMENTS = {"AWS-RunShellScript": (RUN_SHELL_SCRIPT, ["Linux", "MacOS"])}
VERSIONS = ("1", "$LATEST", "$DEFAULT")

InvalidDocumentVersion = _moto.service_error("InvalidDocumentVersion")


def document_content(name: str) -> str:
    """The document's Content string, formatted as AWS returns it (4-space indent, no
    space after a colon)."""
    return json.dumps(AWS_DOCUMENTS[name][0], indent=4, separators=(",", ":")) + "\n"


def _version(response) -> None:
    version = response._get_param("DocumentVersion")
    if version not in (None, *VERSIONS):
        raise InvalidDocumentVersion("The document version isn't valid or doesn't exist.")  # the model's words


def description(name: str) -> dict:
    """DescribeDocument's Document for an AWS-owned document.

    CreatedDate is left out: the lab does not know when AWS created it and will not invent
    a date. Hash is SHA-256 of the Content, as AWS defines it (HashType Sha256).
    """
    content, platforms = AWS_DOCUMENTS[name]
    parameters = []
    for key, spec in content["parameters"].items():
        parameter = {"Name": key, "Type": spec["type"], "Description": spec["description"]}
        if "default" in spec:
            parameter["DefaultValue"] = spec["default"]
        parameters.append(parameter)
    return {
        "Hash": hashlib.sha256(document_content(name).encode()).hexdigest(),
        "HashType": "Sha256",
        "Name": name,
        "Owner": "Amazon",
        "Status": "Active",
        "DocumentVersion": "1",
        "Description": content["description"],
        "Parameters": parameters,
        "PlatformTypes": platforms,
        "DocumentType": "Command",
        "SchemaVersion": content["schemaVersion"],
        "LatestVersion": "1",
        "DefaultVersion": "1",
        "DocumentFormat": "JSON",
        "Tags": [],
    }


def _for_aws_documents(answer):
    """Wrap a moto handler: AWS's own documents are answered by ``answer(name)`` (after
    the DocumentVersion check), any other document by moto."""

    def wrap(original):
        def handler(self):
            name = self._get_param("Name")
            if name not in AWS_DOCUMENTS:
                return original(self)
            _version(self)
            return ActionResult(answer(name))

        return handler

    return wrap


_describe_document = _for_aws_documents(lambda name: {"Document": description(name)})
_get_document = _for_aws_documents(lambda name: {
    "Name": name, "DocumentVersion": "1", "Status": "Active", "Content": document_content(name),
    "DocumentType": "Command", "DocumentFormat": "JSON",
})


def cancel_command(self) -> ActionResult:
    record = ssm_api._invocation_record(self.ssm_backend, self._get_param("CommandId"))
    wanted = list(self._get_param("InstanceIds", []) or [])
    unknown = [iid for iid in wanted if iid not in record["runs"]]
    if unknown:
        # The model's error for a node the command did not target; AWS documents no message.
        raise ssm_api.InvalidInstanceId("")
    now = clock.now()
    for iid, invocation in record["runs"].items():
        if not wanted or iid in wanted:
            invocation.cancel(now)
    ssm_api.refresh_commands(self.ssm_backend)
    return ActionResult({})


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    wrap_methods([
        (SimpleSystemManagerResponse, "describe_document", _describe_document),
        (SimpleSystemManagerResponse, "get_document", _get_document),
    ])
    SimpleSystemManagerResponse.cancel_command = cancel_command
    _installed = True
