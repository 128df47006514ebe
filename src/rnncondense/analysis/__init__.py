"""Analyses of trained networks, one concept per module:

    behavior     produced intervals and task metrics
    activity     condition-averaged activity (xarray, NetCDF) and time normalisation
    pca          principal components, pcs_90, participation ratio
    scaling      scaling index (Wang et al. 2018)
    ramps        ramp classification and ramp_fraction
    spectrum     eigenvalues of W_rec and of the linearisation
    similarity   Procrustes and CCA similarity between two networks' solutions (and `dsa`, re-exported)
    dsa          dynamical similarity: delay embedding, HAVOK operator, Procrustes over vector fields
    fixed_points fixed and slow points per context, their Jacobians, stability and time constants
    summary      solution_metrics in one call (runs.analyze writes it into a run directory)

The package root re-exports the public functions (`from rnncondense import solution_metrics`);
this package imports nothing itself, so that training, which needs only `behavior`, stays light.
"""
