"""The device side: run exported models, read their manifests, measure them. numpy and an interpreter only."""
