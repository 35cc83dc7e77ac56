# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the deploy role's Kubernetes adapter: the patch that rolls a Deployment to a release's image."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

# repository[:tag][@digest]; no spaces, no shell or YAML specials; same rule as the container adapter
_IMAGE_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._/:@-]*$')
_DNS_LABEL_RE = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
ANNOTATION = 'runbook.ops/release'


def _fail(cause, hint):
    raise AnsibleFilterError('Could not build the rollout patch: %s. %s' % (cause, hint))


def k8s_rollout_patch(image, container, release, replicas=None):
    """Strategic-merge patch of a Deployment: set ``container``'s image and annotate the pod template.

    The annotation ``runbook.ops/release`` changes the pod template on every deploy or rollback, so Kubernetes
    starts a new rollout even when the image reference is unchanged. ``replicas`` (an int) is set when given: the
    rollback role scales the Deployment back to its remembered count after a stop (scale to 0).
    """
    image = str(image if image is not None else '').strip()
    if not _IMAGE_RE.match(image) or image.endswith(':') or ':' not in image.rsplit('/', 1)[-1] and '@' not in image:
        _fail('%r is not an image reference with a tag or digest' % image,
              'Set deploy_k8s_image and deploy_k8s_tag (or fix <release>/CONTAINER_IMAGE).')
    container = str(container if container is not None else '')
    if len(container) > 63 or not _DNS_LABEL_RE.match(container):
        _fail('%r is not a container name (lowercase DNS label, at most 63 characters)' % container,
              'Set deploy_k8s_container to the name of the container in the pod template.')
    release = str(release if release is not None else '')
    if not release or len(release) > 256 or any(ord(c) < 32 for c in release):
        _fail('%r is not a release id' % release, 'Pass the release id of the deploy or rollback.')
    spec = {
        'template': {
            'metadata': {'annotations': {ANNOTATION: release}},
            'spec': {'containers': [{'name': container, 'image': image}]},
        },
    }
    if replicas is not None and str(replicas) != '':
        try:
            count = int(replicas)
        except (TypeError, ValueError):
            count = -1
        if count < 0 or isinstance(replicas, bool):
            _fail('%r is not a replica count' % (replicas,), 'Pass a whole number of at least 0, or nothing.')
        spec['replicas'] = count
    return {'spec': spec}


class FilterModule(object):
    def filters(self):
        return {'k8s_rollout_patch': k8s_rollout_patch}
