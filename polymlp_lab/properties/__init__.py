"""Material properties from any ASE calculator: relaxation, equation of state, elastic constants, phonons, convex hull."""
