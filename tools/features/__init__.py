"""design_feature_store: a Feast feature repository (entities, feature views, on-demand transformations, feature
services) with its online/offline stores chosen and sized from the load, and a local profile the tests apply with
the real Feast. Imports only common/.
"""
