"""Filter VSAC 1021.73 (vs_nonopioid.tsv) to oral systemic NSAID / gabapentinoid / benzo / steroid SCDs."""
import re, sys
ROWS = [l.rstrip("\n").split("\t") for l in open("/work/shared/clinical/vs_nonopioid.tsv") if l.startswith("http")]
NSAID = ["ibuprofen","naproxen","diclofenac","celecoxib","aspirin","meloxicam","ketorolac","indomethacin",
  "etodolac","ketoprofen","dexketoprofen","nabumetone","oxaprozin","piroxicam","sulindac","tolmetin","fenoprofen",
  "flurbiprofen","mefenamic acid","meclofenamate","diflunisal","salsalate","choline magnesium trisalicylate",
  "magnesium salicylate","sodium salicylate","choline salicylate","phenylbutazone","carprofen","rofecoxib","fenbufen",
  "valdecoxib","tiaprofenic acid","etoricoxib","lornoxicam","tenoxicam","aceclofenac","nimesulide"]
GABA = ["gabapentin","gabapentin enacarbil","pregabalin"]
BENZO = ["diazepam","lorazepam","alprazolam","clonazepam","chlordiazepoxide","clorazepate","oxazepam","temazepam","midazolam","clobazam"]
STEROID = ["prednisone","prednisolone","methylprednisolone","dexamethasone","hydrocortisone","betamethasone","triamcinolone","cortisone","deflazacort"]
GASTRO = {"famotidine","misoprostol","esomeprazole","omeprazole"}
ORAL = re.compile(r"(Oral (Tablet|Capsule|Suspension|Solution|Powder|Granules)|Chewable Tablet|Powder for Oral Solution|Disintegrating Oral Tablet|Delayed Release Oral (Tablet|Capsule)|Extended Release Oral (Tablet|Capsule)|Effervescent Oral Tablet|\} Pack)$")
SALTS = re.compile(r" (sodium|potassium|tromethamine|hydrochloride|calcium|epolamine)$")
def ingredients(disp):
    d = re.sub(r"^(\d+ HR|Once-Daily|Twice-Daily|\d+ ML) ", "", disp)
    if d.startswith("{"):
        inner = re.findall(r"\(([^()]*)\)", d)
        return sorted({i for x in inner for i in (ingredients(x)[0] or ["?"])}), True
    parts = [p.strip() for p in d.split(" / ")]
    names = []
    for p in parts:
        m = re.match(r"([a-z][a-z ,\-]*?) [\d.]+ (MG|MG/ML|MG/MG|MG/ACTUAT)", p)
        if not m: return None, False
        names.append(SALTS.sub("", m.group(1)))
    return names, False
def pick(group, extra_ok=frozenset()):
    out, rej = [], []
    for sysu, code, disp in ROWS:
        names, pack = ingredients(disp)
        if not names or not any(n in group for n in names): continue
        others = [n for n in names if n not in group]
        reason = None
        if not ORAL.search(disp): reason = "not oral"
        elif any(o not in extra_ok for o in others): reason = "combination: " + ",".join(others)
        elif "aspirin" in names:
            mg = [float(x) for x in re.findall(r"aspirin ([\d.]+) MG(?!/)", disp)]
            if not mg or not (300 <= mg[0] <= 1000): reason = "aspirin low/odd strength"
            elif others: reason = "aspirin combination"
        (rej if reason else out).append((code, disp, reason))
    return out, rej
if __name__ == "__main__":
    for name, g, ok in [("NSAID", NSAID, GASTRO), ("GABA", GABA, set()), ("BENZO", BENZO, set()), ("STEROID", STEROID, set())]:
        o, r = pick(g, ok)
        print("==", name, len(o), "included")
        for x in o: print("  +", x[0], x[1])
        if "-v" in sys.argv:
            for x in r: print("  -", x[0], x[1], "|", x[2])
