# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

"""k8s_rollout_patch: the patch the Kubernetes adapter sends, and what it refuses."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.ops.plugins.filter.deploy import FilterModule, k8s_rollout_patch


def test_patch_sets_image_and_release_annotation():
    assert k8s_rollout_patch('registry.local/shop:v2', 'shop', '20261123T150405Z') == {'spec': {'template': {
        'metadata': {'annotations': {'runbook.ops/release': '20261123T150405Z'}},
        'spec': {'containers': [{'name': 'shop', 'image': 'registry.local/shop:v2'}]}}}}


def test_replicas_only_when_given():
    assert 'replicas' not in k8s_rollout_patch('r/shop:v1', 'shop', 'R1', None)['spec']
    assert 'replicas' not in k8s_rollout_patch('r/shop:v1', 'shop', 'R1', '')['spec']
    assert k8s_rollout_patch('r/shop:v1', 'shop', 'R1', 3)['spec']['replicas'] == 3
    assert k8s_rollout_patch('r/shop:v1', 'shop', 'R1', '0')['spec']['replicas'] == 0


@pytest.mark.parametrize('image', ['localhost:5000/shop:v1', 'shop@sha256:' + 'a' * 64, 'ghcr.io/o/shop:1.2.3-rc1',
                                   ' r/shop:v1\n'])
def test_good_image_references(image):
    assert k8s_rollout_patch(image, 'shop', 'R')['spec']['template']['spec']['containers'][0]['image'] == image.strip()


@pytest.mark.parametrize('image', ['shop', 'localhost:5000/shop', 'shop:', 'r/shop:v1; rm -rf /', '', None, '-x:1',
                                   'r/shop:v1\x00', '*:*'])
def test_bad_image_references(image):
    with pytest.raises(AnsibleFilterError, match=r"^Could not build the rollout patch: .* is not an image reference"):
        k8s_rollout_patch(image, 'shop', 'R')


@pytest.mark.parametrize('name', ['Shop', 'shop_api', '-shop', 'shop-', 'a' * 64, '', 'db."name; --', '*'])
def test_bad_container_names(name):
    with pytest.raises(AnsibleFilterError, match='is not a container name'):
        k8s_rollout_patch('r/shop:v1', name, 'R')


@pytest.mark.parametrize('release', ['', None, 'R\x00', 'x' * 257])
def test_bad_release(release):
    with pytest.raises(AnsibleFilterError, match='is not a release id'):
        k8s_rollout_patch('r/shop:v1', 'shop', release)


@pytest.mark.parametrize('replicas', [-1, 'three', True, 1.5j])
def test_bad_replicas(replicas):
    with pytest.raises(AnsibleFilterError, match='is not a replica count'):
        k8s_rollout_patch('r/shop:v1', 'shop', 'R', replicas)


def test_registered():
    assert FilterModule().filters() == {'k8s_rollout_patch': k8s_rollout_patch}
