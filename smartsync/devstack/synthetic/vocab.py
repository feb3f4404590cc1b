"""Vocabularies of the synthetic data: districts, names, schemes, statuses.

Plain constants. Weights are relative (they need not sum to one). Where another part of
SmartSync gives a value a meaning (the catalog's ``status = 'active'`` scheme filter, the
top-5 hints' ``eligible`` status), the value here is the one it expects.
"""

from __future__ import annotations

DEFAULT_SEED = 42  # the data set every command generates unless told otherwise

# The 33 districts of Rajasthan: district_id = position + 1. Each with its population in
# lakhs (2011 census, rounded) as the weight of where citizens live, and a PIN prefix.
DISTRICTS: tuple[tuple[str, float, str], ...] = (
    ("Ajmer", 25.8, "305"),
    ("Alwar", 36.7, "301"),
    ("Banswara", 17.9, "327"),
    ("Baran", 12.2, "325"),
    ("Barmer", 26.0, "344"),
    ("Bharatpur", 25.5, "321"),
    ("Bhilwara", 24.1, "311"),
    ("Bikaner", 23.6, "334"),
    ("Bundi", 11.1, "323"),
    ("Chittorgarh", 15.4, "312"),
    ("Churu", 20.4, "331"),
    ("Dausa", 16.3, "303"),
    ("Dholpur", 12.1, "328"),
    ("Dungarpur", 13.9, "314"),
    ("Hanumangarh", 17.7, "335"),
    ("Jaipur", 66.3, "302"),
    ("Jaisalmer", 6.7, "345"),
    ("Jalore", 18.3, "343"),
    ("Jhalawar", 14.1, "326"),
    ("Jhunjhunu", 21.4, "333"),
    ("Jodhpur", 36.9, "342"),
    ("Karauli", 14.6, "322"),
    ("Kota", 19.5, "324"),
    ("Nagaur", 33.1, "341"),
    ("Pali", 20.4, "306"),
    ("Pratapgarh", 8.7, "312"),
    ("Rajsamand", 11.6, "313"),
    ("Sawai Madhopur", 13.4, "322"),
    ("Sikar", 26.8, "332"),
    ("Sirohi", 10.4, "307"),
    ("Sri Ganganagar", 19.7, "335"),
    ("Tonk", 14.2, "304"),
    ("Udaipur", 30.7, "313"),
)
DISTRICT_NAMES: tuple[str, ...] = tuple(d[0] for d in DISTRICTS)

MALE_NAMES: tuple[str, ...] = (
    "Aarav",
    "Abhishek",
    "Ajay",
    "Amit",
    "Anil",
    "Arjun",
    "Ashok",
    "Bhagirath",
    "Bharat",
    "Chetan",
    "Deepak",
    "Devendra",
    "Dinesh",
    "Ganpat",
    "Girdhari",
    "Gopal",
    "Govind",
    "Hanuman",
    "Hari",
    "Harish",
    "Hemant",
    "Jagdish",
    "Jitendra",
    "Kailash",
    "Kamal",
    "Kishan",
    "Lakshman",
    "Mahendra",
    "Mahesh",
    "Manoj",
    "Mohan",
    "Mukesh",
    "Narendra",
    "Naresh",
    "Om Prakash",
    "Pankaj",
    "Prakash",
    "Pramod",
    "Prem",
    "Rajendra",
    "Rajesh",
    "Rakesh",
    "Ram Niwas",
    "Ramesh",
    "Ravi",
    "Sanjay",
    "Shankar",
    "Shyam",
    "Sohan",
    "Subhash",
    "Sunil",
    "Suresh",
    "Surendra",
    "Vijay",
    "Vikram",
    "Vinod",
    "Yogesh",
    "Imran",
    "Salim",
    "Harpreet",
)
FEMALE_NAMES: tuple[str, ...] = (
    "Aarti",
    "Anita",
    "Anjali",
    "Asha",
    "Babita",
    "Bhanwari",
    "Chanda",
    "Deepika",
    "Dhapu",
    "Durga",
    "Gayatri",
    "Geeta",
    "Hemlata",
    "Indira",
    "Jyoti",
    "Kamla",
    "Kanta",
    "Kavita",
    "Kiran",
    "Krishna",
    "Laxmi",
    "Mamta",
    "Manju",
    "Meena",
    "Mohini",
    "Nirmala",
    "Pinky",
    "Pooja",
    "Prem Lata",
    "Priya",
    "Pushpa",
    "Radha",
    "Rekha",
    "Rukmani",
    "Santosh",
    "Sarita",
    "Savitri",
    "Seema",
    "Shanti",
    "Sharda",
    "Sita",
    "Sunita",
    "Sushila",
    "Usha",
    "Vandana",
    "Farida",
    "Shabnam",
    "Gurpreet",
)
SURNAMES: tuple[str, ...] = (
    "Sharma",
    "Meena",
    "Jat",
    "Choudhary",
    "Gurjar",
    "Rathore",
    "Shekhawat",
    "Bishnoi",
    "Kumawat",
    "Saini",
    "Yadav",
    "Agarwal",
    "Jain",
    "Mahajan",
    "Prajapat",
    "Bairwa",
    "Regar",
    "Meghwal",
    "Bhil",
    "Garasia",
    "Rajput",
    "Charan",
    "Purohit",
    "Vyas",
    "Joshi",
    "Soni",
    "Swami",
    "Khan",
    "Qureshi",
    "Singh",
    "Verma",
    "Gupta",
    "Mali",
    "Dhaka",
    "Poonia",
    "Godara",
    "Beniwal",
    "Jakhar",
    "Kaswan",
    "Tanwar",
    "Solanki",
    "Parihar",
    "Chauhan",
    "Bhati",
    "Sisodia",
    "Ranawat",
    "Paliwal",
    "Khandelwal",
    "Maheshwari",
    "Suthar",
)

GENDERS: tuple[tuple[str, float], ...] = (("male", 0.515), ("female", 0.48), ("other", 0.005))

LOCALITIES: tuple[str, ...] = (
    "Shastri Nagar",
    "Gandhi Nagar",
    "Civil Lines",
    "Station Road",
    "Subhash Chowk",
    "Bapu Nagar",
    "Nehru Colony",
    "Housing Board Colony",
    "Sadar Bazaar",
    "Purani Mandi",
    "Ambedkar Nagar",
    "Tilak Nagar",
    "Indira Colony",
    "Gopalpura",
    "Mahaveer Nagar",
    "Krishi Mandi Road",
    "Jawahar Nagar",
    "Vaishali Nagar",
    "Ganesh Colony",
    "Hanuman Chowk",
    "Bus Stand Road",
    "Old City",
    "Raiger Mohalla",
    "Gram Panchayat Bhawan",
)

EMAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 0.62),
    ("yahoo.co.in", 0.12),
    ("rediffmail.com", 0.08),
    ("outlook.com", 0.08),
    ("hotmail.com", 0.05),
    ("yahoo.com", 0.05),
)

# Ordered from the poorest: vulnerability follows the band (see the generator).
INCOME_BANDS: tuple[tuple[str, float], ...] = (
    ("below_poverty_line", 0.22),
    ("under_1_lakh", 0.25),
    ("1_to_2.5_lakh", 0.24),
    ("2.5_to_5_lakh", 0.16),
    ("5_to_10_lakh", 0.09),
    ("above_10_lakh", 0.04),
)
VULNERABILITY_LEVELS: tuple[str, ...] = ("critical", "high", "medium", "low")

VERIFICATION_STATUSES: tuple[tuple[str, float], ...] = (("verified", 0.80), ("pending", 0.17), ("rejected", 0.03))

# Schemes: (department, its code, the categories it runs).
DEPARTMENTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Social Justice and Empowerment", "SJE", ("pension", "scholarship", "disability", "housing")),
    ("Medical, Health and Family Welfare", "MHF", ("health", "insurance")),
    ("Rural Development", "RDD", ("employment", "housing")),
    ("Women and Child Development", "WCD", ("women_child", "food_security")),
    ("Agriculture", "AGR", ("agriculture", "insurance")),
    ("School Education", "SED", ("education", "scholarship")),
    ("Higher Education", "HED", ("scholarship", "education")),
    ("Labour", "LAB", ("employment", "insurance", "pension")),
    ("Tribal Area Development", "TAD", ("scholarship", "housing", "agriculture")),
    ("Minority Affairs", "MIN", ("scholarship", "skill_development")),
    ("Food and Civil Supplies", "FCS", ("food_security",)),
    ("Skill, Employment and Entrepreneurship", "SEE", ("skill_development", "employment")),
)
SCHEME_PREFIXES: tuple[str, ...] = (
    "Mukhyamantri",
    "Rajasthan",
    "Indira Gandhi",
    "Jan Kalyan",
    "Palanhar",
    "Chiranjeevi",
    "Annapurna",
    "Kali Bai",
    "Devnarayan",
    "Anuprati",
    "Shubh Shakti",
    "Vidya Sambal",
    "Ambedkar",
    "Sahyog",
)
# Category → (subjects of scheme names, age range or None, benefit amount range in rupees).
SCHEME_CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[int, int] | None, tuple[int, int]]] = {
    "pension": (
        ("Old Age Pension", "Widow Pension", "Specially Abled Pension", "Farmer Pension"),
        (58, 110),
        (12_000, 30_000),
    ),
    "scholarship": (
        ("Post-Matric Scholarship", "Merit Scholarship", "Girls Scholarship", "Coaching Assistance"),
        (14, 30),
        (5_000, 60_000),
    ),
    "disability": (("Divyang Assistance", "Assistive Devices", "Disability Allowance"), None, (5_000, 50_000)),
    "housing": (("Awas Yojana", "Housing Grant", "Shelter Assistance"), (21, 80), (50_000, 250_000)),
    "health": (("Swasthya Bima", "Free Medicine", "Free Diagnostics", "Maternity Care"), None, (1_000, 500_000)),
    "insurance": (("Accident Insurance", "Crop Insurance", "Life Cover"), (18, 70), (10_000, 500_000)),
    "employment": (("Rozgar Guarantee", "Urban Employment", "Self-Employment Loan"), (18, 60), (10_000, 150_000)),
    "women_child": (
        ("Nutrition Support", "Beti Protsahan", "Matritva Sahayata", "Indira Mahila Shakti"),
        None,
        (2_000, 50_000),
    ),
    "food_security": (("Ration Support", "Annapurna Food Packet", "Free Wheat"), None, (500, 10_000)),
    "agriculture": (
        ("Krishi Sahayata", "Drip Irrigation Subsidy", "Tractor Subsidy", "Seed Kit"),
        (18, 75),
        (5_000, 200_000),
    ),
    "education": (
        ("Free Uniform", "Laptop Distribution", "Cycle Distribution", "Free Coaching"),
        (6, 25),
        (1_000, 40_000),
    ),
    "skill_development": (("Skill Training", "Apprenticeship Stipend", "Yuva Sambal"), (18, 35), (3_000, 45_000)),
}
SCHEME_COUNT = 200
WITHDRAWN_SHARE = 0.08  # share of schemes withdrawn: kept in the master, filtered by the catalog

# Eligibility: the score decides the status (see the generator).
ELIGIBLE_FROM = 0.70
POSSIBLY_FROM = 0.40
ELIGIBILITY_STATUSES: tuple[str, ...] = ("eligible", "possibly_eligible", "not_eligible")
SCHEMES_PER_EVALUATION = 5  # eligibility snapshots per evaluated citizen and day

FORECAST_MONTHS = 12  # forecasts cover the next twelve months

# decision.applications and the portal's service_applications share a status draw, so an
# application's two sides agree on where it is (withdrawn only exists in the portal).
DECISION_STATUSES: tuple[tuple[str, float], ...] = (
    ("pending", 0.15),
    ("in_review", 0.20),
    ("approved", 0.45),
    ("rejected", 0.20),
)
SUBMISSION_STATUSES: tuple[tuple[str, float], ...] = (
    ("submitted", 0.15),
    ("under_review", 0.20),
    ("approved", 0.45),
    ("rejected", 0.17),
    ("withdrawn", 0.03),
)
REJECTION_REASONS: tuple[str, ...] = (
    "income above the scheme threshold",
    "documents incomplete",
    "age criteria not met",
    "duplicate application",
    "not a resident of the district",
    "bank account not seeded with Aadhaar",
)
APPROVAL_REASONS: tuple[str, ...] = ("auto-approved (straight-through processing)", "approved after officer review")
STP_RISK_BELOW = 0.25  # approvals below this risk are straight-through

# ML alerts: model → its alert types and the message each carries ({scheme}, {days} filled in).
ALERT_MODELS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "AI-PLATFORM-07",
        (
            ("beneficiary_detected", "You may be eligible for {scheme}; apply before the window closes"),
            ("duplicate_beneficiary", "A second record for {scheme} matches your Jan Aadhaar; please verify"),
        ),
    ),
    (
        "AI-PLATFORM-09",
        (
            ("proactive_inclusion", "Based on your profile you qualify for {scheme}: no application needed"),
            ("missing_entitlement", "You have not received {scheme} for {days} days; contact your e-Mitra"),
        ),
    ),
    (
        "AI-PLATFORM-14",
        (
            ("benefit_expiry", "Your benefit under {scheme} expires in {days} days"),
            ("verification_needed", "Re-verify your details for {scheme} within {days} days"),
            ("renewal_due", "Renewal for {scheme} is due in {days} days"),
        ),
    ),
)
SEVERITIES: tuple[tuple[str, float], ...] = (("low", 0.40), ("medium", 0.35), ("high", 0.20), ("critical", 0.05))

DOCUMENT_TYPES: tuple[tuple[str, float], ...] = (
    ("aadhaar_card", 0.18),
    ("jan_aadhaar_card", 0.15),
    ("income_certificate", 0.14),
    ("caste_certificate", 0.10),
    ("domicile_certificate", 0.09),
    ("bank_passbook", 0.12),
    ("ration_card", 0.08),
    ("photograph", 0.08),
    ("disability_certificate", 0.03),
    ("marksheet", 0.03),
)
# (mime type, file extension, median size in bytes)
DOCUMENT_FORMATS: tuple[tuple[str, str, int, float], ...] = (
    ("application/pdf", "pdf", 350_000, 0.70),
    ("image/jpeg", "jpg", 180_000, 0.25),
    ("image/png", "png", 420_000, 0.05),
)
DOCUMENT_STATUSES: tuple[tuple[str, float], ...] = (("verified", 0.62), ("pending", 0.30), ("rejected", 0.08))
DOCUMENTS_WITH_APPLICATION = 0.6  # the rest are uploaded to the citizen's document locker

FEEDBACK_CHANNELS: tuple[tuple[str, float], ...] = (
    ("portal", 0.45),
    ("mobile_app", 0.30),
    ("e_mitra_kiosk", 0.15),
    ("sampark_helpline", 0.10),
)
RATINGS: tuple[tuple[int, float], ...] = ((1, 0.12), (2, 0.08), (3, 0.15), (4, 0.30), (5, 0.35))
FEEDBACK_COMMENTS: dict[str, tuple[str, ...]] = {
    "negative": (
        "Application pending for weeks without any update",
        "Portal kept timing out while uploading documents",
        "Benefit amount not credited yet",
        "The e-Mitra operator asked for extra fees",
        "Status page shows an error",
    ),
    "neutral": (
        "Process was okay but took long",
        "Could be simpler to find the right scheme",
        "Average experience",
        "Needed help from the helpline to finish",
        "Hindi translation is incomplete in places",
    ),
    "positive": (
        "Got my pension approved quickly",
        "Very easy to apply from my phone",
        "Eligibility checker was helpful",
        "Received the scholarship on time, thank you",
        "Documents were verified within a day",
    ),
}
FEEDBACK_WITHOUT_SCHEME = 0.3
FEEDBACK_WITHOUT_COMMENT = 0.25

# Portal behaviour: (feature, weight) and (action, weight); sessions of a few events each.
FEATURES: tuple[tuple[str, float], ...] = (
    ("dashboard", 0.20),
    ("scheme_search", 0.15),
    ("scheme_details", 0.13),
    ("eligibility_checker", 0.12),
    ("application_form", 0.09),
    ("application_status", 0.10),
    ("document_upload", 0.06),
    ("benefit_forecast", 0.05),
    ("profile", 0.05),
    ("notifications", 0.03),
    ("grievance", 0.02),
)
ACTIONS: tuple[tuple[str, float], ...] = (
    ("view", 0.50),
    ("click", 0.25),
    ("search", 0.08),
    ("scroll", 0.07),
    ("submit", 0.05),
    ("download", 0.03),
    ("upload", 0.02),
)
EVENTS_PER_SESSION = 8.0  # mean; a session is one citizen's consecutive events
