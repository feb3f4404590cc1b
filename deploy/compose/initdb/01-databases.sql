CREATE DATABASE smart_warehouse;
CREATE DATABASE smart_citizen;
