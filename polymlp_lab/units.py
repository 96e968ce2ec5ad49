"""Units in one place. The engine works in eV and Å; stress leaves it in eV/Å³."""

from ase.units import GPa

EV_PER_A3_IN_GPA = 1.0 / GPa  # 160.2176634...: multiply a stress in eV/Å³ to get GPa
KBAR_PER_EV_PER_A3 = 1602.1766208  # pypolymlp's EVtoKbar: VASP stresses (kbar) to eV/Å³
G_PER_CM3_PER_AMU_PER_A3 = 1.66053906660  # 1 amu/Å³ in g/cm³ (CODATA 2018 amu)
